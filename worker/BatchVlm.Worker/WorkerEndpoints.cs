// How a worker attaches to the bus: one receive endpoint per task/model queue (batchvlm.process-shard.<task>.<model>),
// with prefetch and concurrency for slow GPU work and in-memory retries for transient failures (no delayed
// redelivery: RabbitMQ here has no delayed-exchange plug-in, infra-probe §1/§4). Works for the RabbitMQ and the
// in-memory transport alike.
using BatchVlm.Contracts;
using BatchVlm.Worker.Consumers;
using MassTransit;

namespace BatchVlm.Worker;

/// <summary>A task and the model a worker serves it with ("none" for inspect).</summary>
public sealed record TaskModel(string Task, string Model)
{
    public string QueueName => QueueNames.ProcessShard(Task, Model);

    /// <summary>Parse "inspect" or "embed:google/siglip-base-patch16-224" (comma-separated lists are split by the caller).</summary>
    public static TaskModel Parse(string text)
    {
        var colon = text.IndexOf(':');
        var task = (colon < 0 ? text : text[..colon]).Trim();
        var model = colon < 0 ? QueueNames.NoModel : text[(colon + 1)..].Trim();
        if (task.Length == 0 || model.Length == 0)
            throw new ArgumentException($"'{text}' is not TASK or TASK:MODEL");
        return new TaskModel(task.ToLowerInvariant(), model);
    }
}

public static class WorkerEndpoints
{
    public static void AddWorkerConsumers(this IBusRegistrationConfigurator bus) => bus.AddConsumer<ProcessShardConsumer>();

    public static void ConfigureWorkerEndpoints(this IBusFactoryConfigurator cfg, IBusRegistrationContext context,
        WorkerOptions options, IEnumerable<TaskModel> served)
    {
        foreach (var tm in served.Distinct())
        {
            cfg.ReceiveEndpoint(tm.QueueName, e =>
            {
                e.ConfigureConsumeTopology = false;           // commands arrive by queue name; no exchange bindings
                e.PrefetchCount = options.EffectivePrefetch;
                e.ConcurrentMessageLimit = Math.Max(1, options.Concurrency);
                e.UseMessageRetry(r =>
                {
                    r.Handle<Exception>(TransientErrors.IsTransient);
                    r.Exponential(options.RetryLimit, options.RetryInterval, options.RetryInterval * 16, options.RetryInterval);
                });
                e.ConfigureConsumer<ProcessShardConsumer>(context);
            });
        }
    }
}
