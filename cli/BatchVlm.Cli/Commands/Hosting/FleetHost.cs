// Builds the process host for every fleet command: configuration (BatchVlmConfiguration), redacted logging to stderr,
// options, the fleet store, the task registry, and MassTransit 8.4 on RabbitMQ (or the in-memory transport for
// `batchvlm run`) with the worker's and/or coordinator's endpoints. One place shows how the fleet is wired
// (eShop / MassTransit samples style); the commands only choose the roles.
using BatchVlm.Coordinator;
using BatchVlm.Storage.Configuration;
using BatchVlm.Storage.Postgres;
using BatchVlm.Worker;
using BatchVlm.Worker.Pipeline;
using BatchVlm.Worker.Tasks;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BatchVlm.Cli.Commands.Hosting;

public enum FleetTransport { RabbitMq, InMemory }

/// <summary>Which parts of the fleet a process runs.</summary>
/// <param name="Coordinator">Outcome consumers on batchvlm.coordinator and the lease monitor.</param>
/// <param name="Worker">Task/model queues to consume (empty: not a worker).</param>
/// <param name="Sender">Only send shards (submit, retry): no consumers, no monitor.</param>
public sealed record FleetRoles(bool Coordinator, IReadOnlyList<TaskModel> Worker, FleetTransport Transport = FleetTransport.RabbitMq)
{
    public static FleetRoles SenderOnly => new(false, []);
}

public static class FleetHost
{
    /// <summary>Build (not start) a host for <paramref name="roles"/> over an already opened <paramref name="store"/>.</summary>
    public static IHost Build(IConfiguration configuration, FleetRoles roles, IFleetStore store,
        Action<IServiceCollection>? extra = null, ILoggerProvider? logs = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddConfiguration(configuration);
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs ?? new RedactingLoggerProvider());
        ConfigureLogLevels(builder.Logging, configuration);

        var workerOptions = Bind<WorkerOptions>(configuration, WorkerOptions.SectionName);
        var coordinatorOptions = Bind<CoordinatorOptions>(configuration, CoordinatorOptions.SectionName);
        var rabbit = Bind<RabbitMqOptions>(configuration, RabbitMqOptions.SectionName);
        Secrets.Register(rabbit.Password);

        var services = builder.Services;
        services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        // SIGTERM: the worker hands its shard back (commit finished items, release the lease) well within this.
        services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMinutes(2));
        services.Configure<MassTransitHostOptions>(o =>
        {
            o.WaitUntilStarted = false;
            o.StopTimeout = TimeSpan.FromSeconds(90);
        });
        services.AddSingleton(configuration);
        services.AddSingleton(workerOptions);
        services.AddSingleton(coordinatorOptions);
        services.AddSingleton(store);
        services.AddSingleton(TaskRegistry.BuiltIn());
        services.AddSingleton<IInputStores>(new InputResolver(configuration));
        services.AddSingleton<WorkerIdentity>();
        services.AddSingleton<ShardProcessor>();
        services.AddSingleton<ShardSender>();
        services.AddSingleton<JobSubmitter>();
        services.AddSingleton<CoordinatorService>();
        if (roles.Coordinator)
            services.AddHostedService<LeaseMonitor>();
        extra?.Invoke(services);

        services.AddMassTransit(x =>
        {
            if (roles.Worker.Count > 0)
                x.AddWorkerConsumers();
            if (roles.Coordinator)
                x.AddCoordinatorConsumers();

            void Endpoints(IBusFactoryConfigurator cfg, IBusRegistrationContext ctx)
            {
                if (roles.Worker.Count > 0)
                    cfg.ConfigureWorkerEndpoints(ctx, workerOptions, roles.Worker);
                if (roles.Coordinator)
                    cfg.ConfigureCoordinatorEndpoint(ctx);
            }

            if (roles.Transport == FleetTransport.InMemory)
            {
                x.UsingInMemory((ctx, cfg) => Endpoints(cfg, ctx));
            }
            else
            {
                x.UsingRabbitMq((ctx, cfg) =>
                {
                    cfg.Host(rabbit.Host, (ushort)rabbit.Port, rabbit.VirtualHost, h =>
                    {
                        h.Username(rabbit.Username);
                        h.Password(rabbit.Password);
                        h.Heartbeat(rabbit.Heartbeat);
                        if (rabbit.UseSsl)
                            h.UseSsl(_ => { });
                    });
                    Endpoints(cfg, ctx);
                });
            }
        });
        return builder.Build();
    }

    /// <summary>Open the PostgreSQL fleet store from configuration (migrations applied). Throws with a clear message
    /// when no connection string is configured.</summary>
    public static Task<PostgresFleetStore> OpenStoreAsync(IConfiguration configuration, ILoggerProvider? logs = null, CancellationToken ct = default)
    {
        var options = PostgresOptions.From(configuration);
        var factory = LoggerFactory.Create(b =>
        {
            b.ClearProviders();
            b.AddProvider(logs ?? new RedactingLoggerProvider());
            ConfigureLogLevels(b, configuration);
        });
        return PostgresFleetStore.OpenAsync(options, factory.CreateLogger("BatchVlm.Storage.Postgres"), ct);
    }

    public static T Bind<T>(IConfiguration configuration, string section) where T : new() =>
        configuration.GetSection(section).Get<T>() ?? new T();

    private static void ConfigureLogLevels(ILoggingBuilder logging, IConfiguration configuration)
    {
        var level = Enum.TryParse<LogLevel>(configuration["Logging:LogLevel:Default"], true, out var l) ? l : LogLevel.Information;
        logging.SetMinimumLevel(level);
        var mt = Enum.TryParse<LogLevel>(configuration["Logging:LogLevel:MassTransit"], true, out var m) ? m : LogLevel.Warning;
        logging.AddFilter("MassTransit", mt);
        logging.AddFilter("Microsoft", LogLevel.Warning);
    }
}
