// An inspect job end to end on the real local stack (RabbitMQ, PostgreSQL; input in a local folder the in-process
// worker reads): submit → queue batchvlm.process-shard.inspect.none → worker in this process → COPY + upsert →
// job completed, one outcome per item. The same run's log lines (captured through the fleet's redacting logger)
// are then searched for every secret the process knew: RabbitMQ password, PostgreSQL password, storage account
// key, and the SAS signature of an input URL that a failed submit tried to list — none may appear.
using System.Text;
using BatchVlm.Cli.Commands;
using BatchVlm.Cli.Commands.Hosting;
using BatchVlm.Coordinator;
using BatchVlm.Fleet.Tests.Postgres;
using BatchVlm.Fleet.Tests.SystemTests;
using BatchVlm.Storage.Postgres;
using BatchVlm.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BatchVlm.Fleet.Tests.Worker;

[Collection(FleetStackCollection.Name)]
public sealed class InspectJobOnStackTests(FleetTestStack stack) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("batchvlm-stack-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task SubmitInspect_RealStackWithInProcessWorker_OneOutcomePerItemAndNoSecretsInLogs()
    {
        var ct = TestContext.Current.CancellationToken;
        var input = Path.Combine(_root, "images");
        var names = TestImages.WriteSet(input, 300, new Dictionary<string, TestImages.CorruptKind>
        {
            ["bad/truncated.jpg"] = TestImages.CorruptKind.TruncatedJpeg,
            ["bad/zero.jpg"] = TestImages.CorruptKind.ZeroBytes,
        });
        const string sasSig = "bXlTZWNyZXRTYXNTaWduYXR1cmVGb3JUZXN0cw%3D%3D";
        var config = stack.Configuration(new Dictionary<string, string?>
        {
            ["Worker:LeaseRenewInterval"] = "00:00:01",
            ["Coordinator:LeaseCheckInterval"] = "00:00:01",
            ["Logging:LogLevel:Default"] = "Debug",
            ["Logging:LogLevel:MassTransit"] = "Debug",
        });
        BatchVlm.Storage.Configuration.Secrets.Register(Uri.UnescapeDataString(sasSig));
        var log = new StringWriter();
        var logs = new RedactingLoggerProvider(log);

        await using var store = await FleetHost.OpenStoreAsync(config, logs, ct);
        using var host = FleetHost.Build(config, new FleetRoles(Coordinator: true, Worker: [new TaskModel("inspect", "none")]), store, logs: logs);
        await host.StartAsync(ct);
        Guid job;
        try
        {
            var request = await SubmitCommand.PrepareAsync(config, "inspect", null, null, input, 40, ct);
            job = await host.Services.GetRequiredService<JobSubmitter>().SubmitAsync(request, ct);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromMinutes(3));
            var done = await CliCommon.WaitAsync(store, job, TimeSpan.FromMilliseconds(200), progress: false, timeout.Token);
            Assert.Equal((JobStates.CompletedWithErrors, 300L, 298L, 2L), (done.State, done.Total, done.Succeeded, done.Failed));

            // A submit whose SAS URL cannot be listed must fail without echoing the signature.
            var sasUrl = $"http://127.0.0.1:10009/devstoreaccount1/no-such-container-{Guid.NewGuid():N}/x?sv=2025-01-05&sp=rl&sig={sasSig}";
            var failed = await Record.ExceptionAsync(() => SubmitCommand.PrepareAsync(config, "inspect", null, null, sasUrl, 40, ct));
            if (failed is not null)
                host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Test").LogError(failed, "submit failed as expected");
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }

        var lines = new List<System.Text.Json.Nodes.JsonObject>();
        await foreach (var line in store.ReadResultsAsync(job, BatchVlm.Worker.Tasks.InspectTask.Table, ct))
            lines.Add(line);
        Assert.Equal(names, lines.Select(l => (string)l["item_key"]!));
        Assert.Equal(2, lines.Count(l => (string)l["status"]! == "failed"));

        var text = log.ToString();
        Assert.Contains("Shard ", text);                               // the logs are really captured
        var pg = new Npgsql.NpgsqlConnectionStringBuilder(stack.ConnectionString).Password!;
        var key = stack.StorageConnectionString.Split(';').First(f => f.StartsWith("AccountKey=", StringComparison.Ordinal))["AccountKey=".Length..];
        foreach (var (name, secret) in new[] { ("RabbitMQ password", stack.RabbitPassword), ("PostgreSQL password", pg), ("storage key", key),
                     ("SAS signature", sasSig), ("SAS signature (decoded)", Uri.UnescapeDataString(sasSig)) })
            Assert.False(text.Contains(secret, StringComparison.Ordinal), $"{name} found in the logs");
    }
}
