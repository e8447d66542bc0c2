// Shared fixture for the fleet tests that need real servers (collection "FleetStack"): brings the local stack up
// with scripts/stack.sh (idempotent), then gives these tests their own PostgreSQL database `batchvlm_fleet_tests`
// (recreated per run, owned by the stack's batchvlm role, created with the stack's superuser password from
// <state>/credentials.env) and their own RabbitMQ virtual host `batchvlm-fleet-tests` — so they never see the
// system tests' or a developer's jobs. Fresh(...) creates further throwaway databases (migration tests).
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace BatchVlm.Fleet.Tests.Postgres;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FleetStackCollection : ICollectionFixture<FleetTestStack>
{
    public const string Name = "FleetStack";
}

public sealed class FleetTestStack : IAsyncLifetime
{
    public const string Database = "batchvlm_fleet_tests";
    public const string VirtualHost = "batchvlm-fleet-tests";

    public string RepoRoot { get; } = FindRepoRoot();
    public string StateFolder => Environment.GetEnvironmentVariable("BATCHVLM_STATE") is { Length: > 0 } s ? Path.GetFullPath(s) : Path.Combine(RepoRoot, ".state");
    public string ConnectionString { get; private set; } = "";
    public string PostgresPassword { get; private set; } = "";
    public JsonNode Settings { get; private set; } = new JsonObject();
    public string RabbitPassword => Settings["RabbitMq"]!["Password"]!.GetValue<string>();
    public string StorageConnectionString => Settings["Storage"]!["ConnectionString"]!.GetValue<string>();

    public async ValueTask InitializeAsync()
    {
        var up = Process.Start(new ProcessStartInfo("bash", [Path.Combine(RepoRoot, "scripts", "stack.sh"), "up"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepoRoot,
        })!;
        var stderr = up.StandardError.ReadToEndAsync();
        await up.StandardOutput.ReadToEndAsync();
        await up.WaitForExitAsync();
        if (up.ExitCode != 0)
            throw new InvalidOperationException($"scripts/stack.sh up failed ({up.ExitCode}): {await stderr}");

        Settings = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(StateFolder, "batchvlm.settings.json")))!;
        var pg = new NpgsqlConnectionStringBuilder(Settings["ConnectionStrings"]!["Postgres"]!.GetValue<string>());
        PostgresPassword = pg.Password ?? "";
        ConnectionString = await Fresh(Database);
        await PrepareVirtualHost();
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>Drop and create database <paramref name="name"/> owned by batchvlm; returns its connection string.</summary>
    public async Task<string> Fresh(string name)
    {
        var pg = new NpgsqlConnectionStringBuilder(Settings["ConnectionStrings"]!["Postgres"]!.GetValue<string>());
        var credentials = File.ReadAllLines(Path.Combine(StateFolder, "credentials.env"))
            .Select(l => l.Split('=', 2)).Where(f => f.Length == 2).ToDictionary(f => f[0], f => f[1]);
        var admin = new NpgsqlConnectionStringBuilder(pg.ConnectionString)
        {
            Username = "postgres", Password = credentials["POSTGRES_SUPERUSER_PASSWORD"], Database = "postgres", Pooling = false,
        };
        await using (var conn = new NpgsqlConnection(admin.ConnectionString))
        {
            await conn.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", conn);
            await drop.ExecuteNonQueryAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name} OWNER batchvlm", conn);
            await create.ExecuteNonQueryAsync();
        }
        pg.Database = name;
        return pg.ConnectionString;
    }

    /// <summary>Configuration as a fleet process would see it, pointed at this fixture's database and virtual host.</summary>
    public IConfiguration Configuration(IDictionary<string, string?>? extra = null)
    {
        var values = new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = ConnectionString,
            ["RabbitMq:Host"] = Settings["RabbitMq"]!["Host"]!.GetValue<string>(),
            ["RabbitMq:Port"] = Settings["RabbitMq"]!["Port"]!.ToString(),
            ["RabbitMq:VirtualHost"] = VirtualHost,
            ["RabbitMq:Username"] = Settings["RabbitMq"]!["Username"]!.GetValue<string>(),
            ["RabbitMq:Password"] = RabbitPassword,
            ["Storage:ConnectionString"] = StorageConnectionString,
        };
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>())
            values[k] = v;
        var config = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        BatchVlm.Storage.Configuration.Secrets.RegisterFrom(config);
        return config;
    }

    private async Task PrepareVirtualHost()
    {
        var rmq = Settings["RabbitMq"]!;
        var user = rmq["Username"]!.GetValue<string>();
        using var http = new HttpClient { BaseAddress = new Uri($"http://{rmq["Host"]}:{rmq["ManagementPort"]?.GetValue<int>() ?? 15679}/") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{RabbitPassword}")));
        var vhost = Uri.EscapeDataString(VirtualHost);
        await http.DeleteAsync($"api/vhosts/{vhost}");
        (await http.PutAsync($"api/vhosts/{vhost}", new StringContent("{}", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        (await http.PutAsync($"api/permissions/{vhost}/{Uri.EscapeDataString(user)}",
            new StringContent("""{"configure":".*","write":".*","read":".*"}""", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BatchVlm.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("BatchVlm.sln not found above the test binary");
    }
}
