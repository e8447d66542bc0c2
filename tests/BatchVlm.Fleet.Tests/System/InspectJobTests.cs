// Issue 2 "What it must show", first bullet: an inspect job over 2,000 generated images in Azurite, a few of them
// corrupt, processed by two worker processes on real RabbitMQ and PostgreSQL, ends with exactly 2,000 outcomes —
// one result row per valid image, one item error with its reason per corrupt file — and `status --json` adds up.
namespace BatchVlm.Fleet.Tests.SystemTests;

[Collection(SystemCollection.Name)]
public sealed class InspectJobTests(FleetStack stack, ITestOutputHelper output)
{
    public const int Images = 2000;

    [Fact(Timeout = 8 * 60_000)]
    public async Task Inspect_2000ImagesTwoWorkers_ExactlyOneOutcomePerItem()
    {
        await using var run = new FleetRun(stack, nameof(Inspect_2000ImagesTwoWorkers_ExactlyOneOutcomePerItem));
        var data = await stack.StandardDataset(run, Images);
        run.StartCoordinator();
        run.StartWorker("worker-1");
        run.StartWorker("worker-2");
        var started = DateTime.UtcNow;

        var job = await run.SubmitInspect(data.Address, shardSize: 50);
        // Lease owners are cleared when a shard succeeds, so watch the running shards while the job runs.
        using var watching = new CancellationTokenSource();
        var owners = run.WatchLeaseOwners(job, watching.Token);
        var done = await run.WaitForCompletion(job, TimeSpan.FromMinutes(5));
        await watching.CancelAsync();
        var seconds = (DateTime.UtcNow - started).TotalSeconds;
        output.WriteLine($"job {job}: {done.State} {done.Succeeded}+{done.Failed}/{done.Total} in {seconds:F1} s " +
                         $"({done.Total / seconds:F0} items/s incl. start-up); shards by attempt {await run.AttemptHistogram(job)}");

        await ExactlyOnce.AssertAsync(run, job, data);

        // Both worker processes took part: each held the lease of at least one shard.
        var seen = await owners;
        Assert.True(seen.Count >= 2, $"expected both workers to hold shard leases; lease owners seen: {string.Join(", ", seen)}\n{run.LogTails()}");
    }
}
