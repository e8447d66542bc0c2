// Shared xunit fixture for fleet tests that need the real local stack (RabbitMQ, PostgreSQL, Azurite): it runs
// `scripts/stack.sh up` once per test process (idempotent, fast when already up) and exposes the configuration every
// BatchVlm process would read (BatchVlmConfiguration: <state>/batchvlm.settings.json, env, ...), plus helpers to run
// stack.sh commands and to get a throwaway Azurite container. Use it as a class fixture
// (IClassFixture<StackFixture>) or call StackFixture.EnsureUpAsync() directly. It never stops the stack.
using System.Diagnostics;
using BatchVlm.Storage.Blobs;
using BatchVlm.Storage.Configuration;
using Microsoft.Extensions.Configuration;

namespace BatchVlm.Fleet.Tests.Infrastructure;

public sealed class StackFixture : IAsyncLifetime
{
    private static readonly SemaphoreSlim s_gate = new(1, 1);
    private static bool s_up;

    /// <summary>The repository root (the folder holding BatchVlm.sln).</summary>
    public static string RepositoryRoot { get; } = StateFolder.FindRepositoryRoot()
        ?? throw new InvalidOperationException("BatchVlm.sln not found above the test binaries.");

    /// <summary>scripts/stack.sh</summary>
    public static string StackScript => Path.Combine(RepositoryRoot, "scripts", "stack.sh");

    /// <summary>The stack's state folder ($BATCHVLM_STATE or &lt;repo&gt;/.state).</summary>
    public static string StateFolderPath => StateFolder.Resolve();

    /// <summary>Configuration as `batchvlm` commands see it (read after the stack is up).</summary>
    public IConfigurationRoot Configuration { get; private set; } = new ConfigurationBuilder().Build();

    public string StorageConnectionString => Configuration["Storage:ConnectionString"]
        ?? throw new InvalidOperationException("Storage:ConnectionString missing after stack up.");

    public string PostgresConnectionString => Configuration.GetConnectionString("Postgres")
        ?? throw new InvalidOperationException("ConnectionStrings:Postgres missing after stack up.");

    public string RabbitHost => Configuration["RabbitMq:Host"] ?? "127.0.0.1";
    public int RabbitPort => int.Parse(Configuration["RabbitMq:Port"] ?? "5679");
    public int RabbitManagementPort => int.Parse(Configuration["RabbitMq:ManagementPort"] ?? "15679");
    public string RabbitUser => Configuration["RabbitMq:Username"] ?? "batchvlm";
    public string RabbitPassword => Configuration["RabbitMq:Password"] ?? "";

    public async ValueTask InitializeAsync()
    {
        await EnsureUpAsync();
        Configuration = BatchVlmConfiguration.Build();
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>Run `scripts/stack.sh up` once per process; later calls return at once.</summary>
    public static async Task EnsureUpAsync(CancellationToken ct = default)
    {
        if (s_up)
            return;
        await s_gate.WaitAsync(ct);
        try
        {
            if (s_up)
                return;
            var (code, output) = await RunStackAsync(["up"], TimeSpan.FromMinutes(10), ct);
            if (code != 0)
                throw new InvalidOperationException($"scripts/stack.sh up failed (exit {code}):\n{output}");
            s_up = true;
        }
        finally
        {
            s_gate.Release();
        }
    }

    /// <summary>Run scripts/stack.sh with <paramref name="args"/> (status, start|stop|kill|restart SERVICE ...);
    /// returns the exit code and stdout+stderr.</summary>
    public static async Task<(int ExitCode, string Output)> RunStackAsync(string[] args, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        var start = new ProcessStartInfo("bash", [StackScript, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepositoryRoot,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start bash");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout ?? TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"scripts/stack.sh {string.Join(' ', args)} did not finish in time");
        }
        return (process.ExitCode, (await stdout) + (await stderr));
    }

    /// <summary>A store on a new, uniquely named Azurite container (created); delete it with DeleteContainerAsync.</summary>
    public async Task<AzureBlobStore> NewContainerAsync(string purpose, BlobStorageOptions? options = null, HttpClient? httpClient = null,
        string rootPrefix = "")
    {
        var name = $"{purpose}-{Guid.NewGuid():N}"[..Math.Min(63, purpose.Length + 13)].ToLowerInvariant();
        var store = new AzureBlobStore(BlobAccount.Parse(StorageConnectionString), name, rootPrefix,
            (options ?? new BlobStorageOptions()) with { ConnectionString = null }, httpClient);
        await store.EnsureContainerAsync();
        return store;
    }
}
