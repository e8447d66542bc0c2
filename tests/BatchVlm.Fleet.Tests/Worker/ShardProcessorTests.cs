// ShardProcessor's lifecycle rules, in process with the in-memory fleet store and a real local folder: a soft stop
// (SIGTERM) or the MaxShardDuration bound mid-shard commits the finished items and hands the shard back, and the
// next delivery skips them — exactly one outcome per item; a lost lease abandons the work without writing; a stale
// attempt is skipped. The task used is a real IShardTask (the plug-in interface), slowed down so that stops land
// mid-shard.
using BatchVlm.Cli.Commands.Hosting;
using BatchVlm.Contracts;
using BatchVlm.Fleet.Tests.SystemTests;
using BatchVlm.Storage.Postgres;
using BatchVlm.Worker;
using BatchVlm.Worker.Pipeline;
using BatchVlm.Worker.Tasks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace BatchVlm.Fleet.Tests.Worker;

public sealed class ShardProcessorTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("batchvlm-shard-").FullName;
    private readonly InMemoryFleetStore _store = new();

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>inspect, with every Prepare slowed by <see cref="Delay"/>.</summary>
    private sealed class SlowInspectTask(TimeSpan delay) : IShardTask
    {
        private readonly InspectTask _inner = new();
        public string Name => "inspect";
        public bool RequiresModel => false;
        public int DefaultShardSize => 10;
        public ResultTable ResultTable => _inner.ResultTable;
        public void ValidateParameters(string model, string parametersJson) => _inner.ValidateParameters(model, parametersJson);

        public async ValueTask<IShardTaskSession> OpenAsync(TaskRequest request, CancellationToken ct) =>
            new Session(await _inner.OpenAsync(request, ct), delay);

        private sealed class Session(IShardTaskSession inner, TimeSpan delay) : IShardTaskSession
        {
            public int BatchSize => 4;
            public PreparedItem Prepare(FetchedItem item, CancellationToken ct)
            {
                Thread.Sleep(delay);
                return inner.Prepare(item, ct);
            }
            public ValueTask<BatchOutput> RunBatchAsync(IReadOnlyList<PreparedItem> batch, CancellationToken ct) => inner.RunBatchAsync(batch, ct);
            public ValueTask DisposeAsync() => inner.DisposeAsync();
        }
    }

    private (ShardProcessor Processor, ProcessShard Message) Setup(int items, WorkerOptions options, TimeSpan delay)
    {
        var folder = Path.Combine(_root, "in");
        var keys = TestImages.WriteSet(folder, items);
        var job = Guid.NewGuid();
        _store.CreateJobAsync(new NewJob(job, "inspect", "none", "{}", folder, "inspect_results", items, 5, [keys])).Wait();
        var processor = new ShardProcessor(_store, new TaskRegistry([new SlowInspectTask(delay)]),
            new InputResolver(new ConfigurationBuilder().Build()), options, new WorkerIdentity(), NullLogger<ShardProcessor>.Instance);
        return (processor, new ProcessShard(job, 0, 1, "inspect", "none", "{}", folder, keys));
    }

    private static WorkerOptions Options => new() { DownloadConcurrency = 2, DecodeThreads = 1, LeaseRenewInterval = TimeSpan.FromMilliseconds(50) };

    private async Task<List<string>> ResultKeys(Guid job)
    {
        var keys = new List<string>();
        await foreach (var line in _store.ReadResultsAsync(job, InspectTask.Table, TestContext.Current.CancellationToken))
            keys.Add((string)line["item_key"]!);
        return keys;
    }

    [Fact]
    public async Task ProcessAsync_SoftStopMidShard_HandsBackAndNextDeliverySkipsFinishedItems()
    {
        var (processor, message) = Setup(40, Options, TimeSpan.FromMilliseconds(25));
        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        var first = await processor.ProcessAsync(message, stop.Token);

        var handedBack = Assert.IsType<ShardOutcome.HandedBack>(first);
        Assert.InRange(handedBack.Finished, 1, 39);
        Assert.Equal(handedBack.Finished, (await ResultKeys(message.JobId)).Count);
        var unsent = Assert.Single(await _store.FindUnsentShardsAsync(10, TestContext.Current.CancellationToken));
        Assert.Equal((0, 1, 1), (unsent.ShardIndex, unsent.Attempt, unsent.Dispatch));
        Assert.Equal(JobStates.Running, (await _store.GetJobAsync(message.JobId, TestContext.Current.CancellationToken))!.State);

        var second = await processor.ProcessAsync(message, CancellationToken.None);

        var completed = Assert.IsType<ShardOutcome.Completed>(second);
        Assert.Equal(handedBack.Finished, completed.SkippedItems);
        Assert.Equal(message.ItemKeys, await ResultKeys(message.JobId));
        var job = (await _store.GetJobAsync(message.JobId, TestContext.Current.CancellationToken))!;
        Assert.Equal((JobStates.Completed, 40L, 40L, 0L), (job.State, job.Total, job.Succeeded, job.Failed));
    }

    [Fact]
    public async Task ProcessAsync_RunsPastMaxShardDuration_HandsBack()
    {
        var (processor, message) = Setup(30, Options with { MaxShardDuration = TimeSpan.FromMilliseconds(200) }, TimeSpan.FromMilliseconds(25));
        var outcome = await processor.ProcessAsync(message, CancellationToken.None);
        var handedBack = Assert.IsType<ShardOutcome.HandedBack>(outcome);
        Assert.Contains("MaxShardDuration", handedBack.Reason);
        Assert.InRange((await ResultKeys(message.JobId)).Count, 1, 29);
    }

    [Fact]
    public async Task ProcessAsync_LeaseLostWhileWorking_AbandonsWithoutWriting()
    {
        var (processor, message) = Setup(30, Options, TimeSpan.FromMilliseconds(30));
        var work = processor.ProcessAsync(message, CancellationToken.None);
        await Task.Delay(150, TestContext.Current.CancellationToken);
        // The coordinator decided the lease expired and re-sent the shard as attempt 2.
        Assert.NotNull(await _store.RequeueShardAsync(message.JobId, 0, 1, "test: lease expired", ct: TestContext.Current.CancellationToken));

        var outcome = await work;

        Assert.IsType<ShardOutcome.Skipped>(outcome);
        Assert.Empty(await ResultKeys(message.JobId));
        var stale = await processor.ProcessAsync(message, CancellationToken.None);
        Assert.Contains("StaleAttempt", Assert.IsType<ShardOutcome.Skipped>(stale).Reason);
        Assert.IsType<ShardOutcome.Completed>(await processor.ProcessAsync(message with { Attempt = 2 }, CancellationToken.None));
        Assert.Equal(message.ItemKeys, await ResultKeys(message.JobId));
    }

    [Fact]
    public async Task ProcessAsync_UnknownTask_PermanentFailure()
    {
        var (processor, message) = Setup(2, Options, TimeSpan.Zero);
        var outcome = await processor.ProcessAsync(message with { Task = "paint" }, CancellationToken.None);
        Assert.False(Assert.IsType<ShardOutcome.Failed>(outcome).Transient);
    }
}
