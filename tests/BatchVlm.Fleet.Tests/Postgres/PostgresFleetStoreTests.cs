// PostgresFleetStore against the real PostgreSQL of the local stack (scripts/stack.sh): idempotent commits (a shard
// delivered twice, or committed by two workers at once, leaves one row per item and exact counters), items moving
// between item_errors and the result table, claims guarded by attempt and lease, the attempt limit, retry, cancel.
using BatchVlm.Storage.Postgres;
using BatchVlm.Worker.Tasks;
using Npgsql;

namespace BatchVlm.Fleet.Tests.Postgres;

[Collection(FleetStackCollection.Name)]
public sealed class PostgresFleetStoreTests(FleetTestStack stack) : IAsyncLifetime
{
    private PostgresFleetStore _store = null!;
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    public async ValueTask InitializeAsync() =>
        _store = await PostgresFleetStore.OpenAsync(new PostgresOptions { ConnectionString = stack.ConnectionString });

    public async ValueTask DisposeAsync() => await _store.DisposeAsync();

    private static InspectResult Row(string key) => new(key, "png", 4, 3, 3, 1, 100, new string('a', 64), 1.5);

    private async Task<Guid> NewJob(int maxAttempts = 3, params string[][] shards)
    {
        var id = Guid.NewGuid();
        await _store.CreateJobAsync(new NewJob(id, "inspect", "none", "{}", "/tmp/input", "inspect_results", 10, maxAttempts,
            shards.Select(s => (IReadOnlyList<string>)s).ToArray()), TestContext.Current.CancellationToken);
        return id;
    }

    private async Task<long> Count(string sql, Guid job)
    {
        await using var cmd = _store.DataSource.CreateCommand(sql);
        cmd.Parameters.AddWithValue(job);
        return (long)(await cmd.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }

    private ShardCommit Commit(Guid job, int shard, int attempt, string worker, string[] ok, string[] bad, bool final = true) =>
        new(job, shard, attempt, worker, InspectTask.Table, ok.Select(k => (IResultRow)Row(k)).ToArray(),
            bad.Select(k => new ItemError(k, "truncated", $"{k}: truncated")).ToArray(), final);

    [Fact]
    public async Task CommitShard_SameShardDeliveredTwice_OneRowPerItemAndExactCounters()
    {
        var ct = TestContext.Current.CancellationToken;
        var job = await NewJob(3, ["a.png", "b.png", "c.jpg"]);
        var claim = await _store.ClaimShardAsync(job, 0, 1, "w1", Lease, InspectTask.Table, ["a.png", "b.png", "c.jpg"], ct);
        Assert.Equal(ShardClaimStatus.Claimed, claim.Status);

        var first = await _store.CommitShardAsync(Commit(job, 0, 1, "w1", ["a.png", "b.png"], ["c.jpg"]), ct);
        var second = await _store.CommitShardAsync(Commit(job, 0, 1, "w2", ["a.png", "b.png"], ["c.jpg"]), ct);

        Assert.Equal((2, 1, true), (first.SucceededDelta, first.FailedDelta, first.MarkedDone));
        Assert.Equal((0, 0, false), (second.SucceededDelta, second.FailedDelta, second.MarkedDone));
        Assert.Equal(2, await Count("SELECT count(*) FROM inspect_results WHERE job_id = $1", job));
        Assert.Equal(1, await Count("SELECT count(*) FROM item_errors WHERE job_id = $1", job));
        var snap = (await _store.GetJobAsync(job, ct))!;
        Assert.Equal((JobStates.CompletedWithErrors, 3L, 2L, 1L), (snap.State, snap.Total, snap.Succeeded, snap.Failed));
    }

    [Fact]
    public async Task CommitShard_TwoWorkersCommitAtOnce_OneRowPerItem()
    {
        var ct = TestContext.Current.CancellationToken;
        var keys = Enumerable.Range(0, 300).Select(i => $"img-{i:D4}.png").ToArray();
        var job = await NewJob(3, keys);
        var commits = Enumerable.Range(0, 4).Select(w => _store.CommitShardAsync(Commit(job, 0, 1, $"w{w}", keys[..290], keys[290..]), ct));
        var outcomes = await Task.WhenAll(commits);

        Assert.Equal(290, outcomes.Sum(o => o.SucceededDelta));
        Assert.Equal(10, outcomes.Sum(o => o.FailedDelta));
        Assert.Single(outcomes, o => o.MarkedDone);
        Assert.Equal(290, await Count("SELECT count(*) FROM inspect_results WHERE job_id = $1", job));
        var snap = (await _store.GetJobAsync(job, ct))!;
        Assert.Equal((290L, 10L), (snap.Succeeded, snap.Failed));
    }

    [Fact]
    public async Task CommitShard_FailedItemLaterSucceeds_MovesFromErrorsToResults()
    {
        var ct = TestContext.Current.CancellationToken;
        var job = await NewJob(3, ["x.jpg", "y.jpg"]);
        await _store.CommitShardAsync(Commit(job, 0, 1, "w1", ["x.jpg"], ["y.jpg"]), ct);
        Assert.Equal(JobStates.CompletedWithErrors, (await _store.GetJobAsync(job, ct))!.State);

        var retry = await _store.RetryFailedItemsAsync(job, 10, ct);
        var shard = Assert.Single(retry);
        Assert.Equal(["y.jpg"], shard.ItemKeys);
        Assert.Equal(JobStates.Running, (await _store.GetJobAsync(job, ct))!.State);

        var claim = await _store.ClaimShardAsync(job, shard.ShardIndex, 1, "w2", Lease, InspectTask.Table, shard.ItemKeys, ct);
        Assert.Equal(ShardClaimStatus.Claimed, claim.Status);
        var outcome = await _store.CommitShardAsync(Commit(job, shard.ShardIndex, 1, "w2", ["y.jpg"], []), ct);

        Assert.Equal((1, -1), (outcome.SucceededDelta, outcome.FailedDelta));
        Assert.Equal(0, await Count("SELECT count(*) FROM item_errors WHERE job_id = $1", job));
        var snap = (await _store.GetJobAsync(job, ct))!;
        Assert.Equal((JobStates.Completed, 2L, 0L), (snap.State, snap.Succeeded, snap.Failed));
    }

    [Fact]
    public async Task ClaimShard_StaleAttemptOrLiveLeaseElsewhere_Refused()
    {
        var ct = TestContext.Current.CancellationToken;
        var job = await NewJob(5, ["a.png"]);
        Assert.Equal(ShardClaimStatus.Claimed, (await _store.ClaimShardAsync(job, 0, 1, "w1", Lease, InspectTask.Table, ["a.png"], ct)).Status);
        Assert.Equal(ShardClaimStatus.LeasedElsewhere, (await _store.ClaimShardAsync(job, 0, 1, "w2", Lease, InspectTask.Table, ["a.png"], ct)).Status);
        Assert.Equal(ShardClaimStatus.Claimed, (await _store.ClaimShardAsync(job, 0, 1, "w1", Lease, InspectTask.Table, ["a.png"], ct)).Status);

        var next = await _store.RequeueShardAsync(job, 0, 1, "test: lease expired", ct: ct);
        Assert.Equal(2, next!.Attempt);
        Assert.Equal(ShardClaimStatus.StaleAttempt, (await _store.ClaimShardAsync(job, 0, 1, "w1", Lease, InspectTask.Table, ["a.png"], ct)).Status);
        Assert.False(await _store.ExtendLeaseAsync(job, 0, 1, "w1", Lease, ct));
        Assert.Equal(ShardClaimStatus.Claimed, (await _store.ClaimShardAsync(job, 0, 2, "w2", TimeSpan.FromMilliseconds(1), InspectTask.Table, ["a.png"], ct)).Status);

        // A lease that ran out can be taken over, and the monitor finds it.
        await Task.Delay(50, ct);
        Assert.Contains(await _store.FindExpiredLeasesAsync(1000, ct), e => e.JobId == job && e.Attempt == 2 && e.LeaseOwner == "w2");
        Assert.Equal(ShardClaimStatus.Claimed, (await _store.ClaimShardAsync(job, 0, 2, "w3", Lease, InspectTask.Table, ["a.png"], ct)).Status);
    }

    [Fact]
    public async Task RequeueShard_AtAttemptLimit_ShardFailsAndItemsCarryReason()
    {
        var ct = TestContext.Current.CancellationToken;
        var job = await NewJob(2, ["a.png", "b.png"], ["c.png"]);
        // Shard 0 half done by a worker that handed it back, then lost twice.
        await _store.ClaimShardAsync(job, 0, 1, "w1", Lease, InspectTask.Table, ["a.png", "b.png"], ct);
        await _store.CommitShardAsync(Commit(job, 0, 1, "w1", ["a.png"], [], final: false), ct);
        Assert.NotNull(await _store.RequeueShardAsync(job, 0, 1, "lease expired", ct: ct));
        var limit = false;
        Assert.Null(await _store.RequeueShardAsync(job, 0, 2, "lease expired", r => limit = r, ct));
        Assert.True(limit);
        Assert.True(await _store.FailShardAsync(job, 0, 2, "gave up after 2 attempts: lease expired", ct));
        Assert.False(await _store.FailShardAsync(job, 0, 2, "again", ct));

        await using (var cmd = _store.DataSource.CreateCommand("SELECT item_key, kind, reason FROM item_errors WHERE job_id = $1"))
        {
            cmd.Parameters.AddWithValue(job);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            Assert.True(await r.ReadAsync(ct));
            Assert.Equal(("b.png", "shard_failed"), (r.GetString(0), r.GetString(1)));   // a.png keeps its result
            Assert.Contains("gave up after 2 attempts", r.GetString(2));
            Assert.False(await r.ReadAsync(ct));
        }
        await _store.CommitShardAsync(Commit(job, 1, 1, "w1", ["c.png"], []), ct);
        var snap = (await _store.GetJobAsync(job, ct))!;
        Assert.Equal((JobStates.CompletedWithErrors, 2L, 1L, 1), (snap.State, snap.Succeeded, snap.Failed, snap.ShardsFailed));
    }

    [Fact]
    public async Task CancelJob_RunningShard_ClaimsAndLeaseRenewalsRefused()
    {
        var ct = TestContext.Current.CancellationToken;
        var job = await NewJob(3, ["a.png"], ["b.png"]);
        await _store.ClaimShardAsync(job, 0, 1, "w1", Lease, InspectTask.Table, ["a.png"], ct);
        Assert.True(await _store.CancelJobAsync(job, ct));
        Assert.False(await _store.CancelJobAsync(job, ct));
        Assert.False(await _store.ExtendLeaseAsync(job, 0, 1, "w1", Lease, ct));
        Assert.Equal(ShardClaimStatus.JobNotRunning, (await _store.ClaimShardAsync(job, 1, 1, "w2", Lease, InspectTask.Table, ["b.png"], ct)).Status);
        Assert.Equal(JobStates.Cancelled, (await _store.GetJobAsync(job, ct))!.State);
    }

    [Fact]
    public async Task CreateJob_ShardsUnsentUntilMarked_HandBackMakesThemUnsentAgain()
    {
        var ct = TestContext.Current.CancellationToken;
        var job = await NewJob(3, ["a.png"], ["b.png"]);
        Assert.Equal(2, (await _store.FindUnsentShardsAsync(100_000, ct)).Count(s => s.JobId == job));
        var firstSend = (await _store.FindUnsentShardsAsync(100_000, ct)).Where(s => s.JobId == job).ToArray();
        await _store.MarkSentAsync(firstSend, ct);
        Assert.DoesNotContain(await _store.FindUnsentShardsAsync(100_000, ct), s => s.JobId == job);

        await _store.ClaimShardAsync(job, 1, 1, "w1", Lease, InspectTask.Table, ["b.png"], ct);
        await _store.CommitShardAsync(Commit(job, 1, 1, "w1", [], [], final: false) with { HandBackReason = "worker shutting down" }, ct);
        var unsent = Assert.Single(await _store.FindUnsentShardsAsync(100_000, ct), s => s.JobId == job);
        Assert.Equal((1, 1, 1), (unsent.ShardIndex, unsent.Attempt, unsent.Dispatch));

        // A late "sent" record for the first dispatch must not hide the hand-back's dispatch.
        await _store.MarkSentAsync(firstSend, ct);
        Assert.Single(await _store.FindUnsentShardsAsync(100_000, ct), s => s.JobId == job);
    }

    [Fact]
    public async Task ReadResults_MixedOutcomes_OneLinePerItemInKeyOrder()
    {
        var ct = TestContext.Current.CancellationToken;
        var job = await NewJob(3, ["b.png", "a.png", "c.jpg"]);
        await _store.CommitShardAsync(Commit(job, 0, 1, "w1", ["a.png", "c.jpg"], ["b.png"]), ct);
        var lines = new List<System.Text.Json.Nodes.JsonObject>();
        await foreach (var line in _store.ReadResultsAsync(job, InspectTask.Table, ct))
            lines.Add(line);
        Assert.Equal(["a.png", "b.png", "c.jpg"], lines.Select(l => (string)l["item_key"]!));
        Assert.Equal(["succeeded", "failed", "succeeded"], lines.Select(l => (string)l["status"]!));
        Assert.Equal("truncated", (string)lines[1]["error_kind"]!);
        Assert.Equal(4, (int)lines[0]["width"]!);
    }
}
