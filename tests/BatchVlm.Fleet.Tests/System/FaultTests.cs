// Issue 2 "What it must show", second bullet: fault tests on the real servers, each ending with exactly one outcome
// per item and nothing lost (ExactlyOnce). Each runs an inspect job over the standard 2,000-image set with two
// worker processes and injects one fault once 10-70 % of the items are done:
//   - kill -9 a worker (its shard comes back: RabbitMQ redelivers it and/or the lease expires and the coordinator
//     re-sends it; leases are 6 s here via FleetRun.FastLeases);
//   - restart RabbitMQ (scripts/stack.sh restart rabbitmq: TERM, then a fresh boot on the same data);
//   - stop PostgreSQL for 20 s (graceful stop, then start);
//   - kill -9 the coordinator and start a new one (its state is in PostgreSQL, its queue in RabbitMQ).
namespace BatchVlm.Fleet.Tests.SystemTests;

[Collection(SystemCollection.Name)]
public sealed class FaultTests(FleetStack stack, ITestOutputHelper output)
{
    private const int Images = InspectJobTests.Images;
    // Small shards: many of them, so the fault lands while shards are in flight and each re-send is cheap.
    private const int ShardSize = 20;

    [Fact(Timeout = 8 * 60_000)]
    public Task Worker_KilledMidJob_ShardComesBackAndEveryItemHasOneOutcome() =>
        Scenario(nameof(Worker_KilledMidJob_ShardComesBackAndEveryItemHasOneOutcome), async (run, job, workers, _) =>
        {
            // The victim must be holding a shard when it dies, or the test proves nothing.
            // Worker ids are host:pid:nonce, so the shards it holds are those whose lease_owner carries its pid.
            var victim = workers[0];
            var owned = $"%:{victim.Pid}:%";
            var deadline = DateTime.UtcNow.AddSeconds(30);
            long held;
            while ((held = await run.Scalar("SELECT count(*) FROM shards WHERE job_id = $1 AND state = 'running' AND lease_owner LIKE $2", job, owned)) == 0
                   && DateTime.UtcNow < deadline)
                await Task.Delay(20);
            run.ExpectExit(victim);
            await victim.KillAsync();
            output.WriteLine($"killed {victim.Name} (pid {victim.Pid}) holding {held} shard lease(s)");
            Assert.True(held > 0, $"{victim.Name} held no shard lease when it was killed");
        });

    [Fact(Timeout = 8 * 60_000)]
    public Task RabbitMq_RestartedMidJob_EveryItemHasOneOutcome() =>
        Scenario(nameof(RabbitMq_RestartedMidJob_EveryItemHasOneOutcome), async (_, _, _, _) =>
        {
            await stack.Stack("restart", "rabbitmq");
        });

    [Fact(Timeout = 8 * 60_000)]
    public Task Postgres_Stopped20SecondsMidJob_EveryItemHasOneOutcome() =>
        Scenario(nameof(Postgres_Stopped20SecondsMidJob_EveryItemHasOneOutcome), async (_, _, _, _) =>
        {
            await stack.Stack("stop", "postgres");
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(20));
            }
            finally
            {
                await stack.Stack("start", "postgres");
            }
        });

    [Fact(Timeout = 8 * 60_000)]
    public Task Coordinator_KilledAndRestartedMidJob_EveryItemHasOneOutcome() =>
        Scenario(nameof(Coordinator_KilledAndRestartedMidJob_EveryItemHasOneOutcome), async (run, _, _, coordinator) =>
        {
            run.ExpectExit(coordinator);
            await coordinator.KillAsync();
            await Task.Delay(TimeSpan.FromSeconds(2));
            run.StartCoordinator("coordinator-2");
        });

    private async Task Scenario(string name, Func<FleetRun, Guid, FleetProcess[], FleetProcess, Task> fault)
    {
        await using var run = new FleetRun(stack, name);
        var data = await stack.StandardDataset(run, Images);
        var coordinator = run.StartCoordinator();
        FleetProcess[] workers = [run.StartWorker("worker-1"), run.StartWorker("worker-2")];
        var started = DateTime.UtcNow;
        var job = await run.SubmitInspect(data.Address, ShardSize);

        var before = await ExactlyOnce.WaitUntilMidJob(run, job, 0.10, 0.70, TimeSpan.FromMinutes(3));
        var faultAt = DateTime.UtcNow;
        await fault(run, job, workers, coordinator);
        output.WriteLine($"fault injected at {before.Done}/{before.Total} items ({(faultAt - started).TotalSeconds:F1} s after start), " +
                         $"took {(DateTime.UtcNow - faultAt).TotalSeconds:F1} s");

        var done = await run.WaitForCompletion(job, TimeSpan.FromMinutes(4));
        output.WriteLine($"job {job}: {done.State} {done.Succeeded}+{done.Failed}/{done.Total}, " +
                         $"{(DateTime.UtcNow - started).TotalSeconds:F1} s in all; shards by attempt {await run.AttemptHistogram(job)}");
        await ExactlyOnce.AssertAsync(run, job, data);
    }
}
