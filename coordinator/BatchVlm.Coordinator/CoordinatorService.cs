// The coordinator's decisions about shards, shared by the outcome consumers and the lease monitor. All of them are
// idempotent (guarded by shard state and attempt in the store), so duplicate or late events change nothing.
//  - ShardFailed(transient) or an expired lease → re-queue with attempt+1 and send, or, at Coordinator:MaxAttempts,
//    fail the shard with its reason (its items become item errors);
//  - ShardFailed(permanent) → fail the shard at once;
//  - ShardHandedBack / unsent shards → send them (again);
//  - jobs whose shards are all finished → completed / completed_with_errors.
using BatchVlm.Storage.Postgres;
using Microsoft.Extensions.Logging;

namespace BatchVlm.Coordinator;

public sealed class CoordinatorService(IFleetStore store, ShardSender sender, CoordinatorOptions options, ILogger<CoordinatorService> logger)
{
    /// <summary>Re-send the shard at the next attempt, or fail it when its attempts are spent.</summary>
    public async Task RetryOrFailAsync(Guid jobId, int shardIndex, int attempt, string reason, CancellationToken ct)
    {
        var limit = false;
        var next = await store.RequeueShardAsync(jobId, shardIndex, attempt, reason, reached => limit = reached, ct);
        if (next is not null)
        {
            logger.LogWarning("Shard {Job}/{Shard}: attempt {Attempt} failed ({Reason}); sending attempt {Next}", jobId, shardIndex, attempt, reason, next.Attempt);
            await sender.SendAsync([next], ct);
        }
        else if (limit)
        {
            await FailAsync(jobId, shardIndex, attempt, $"gave up after {attempt} attempts (Coordinator:MaxAttempts = {options.MaxAttempts}): {reason}", ct);
        }
    }

    public async Task FailAsync(Guid jobId, int shardIndex, int attempt, string reason, CancellationToken ct)
    {
        if (await store.FailShardAsync(jobId, shardIndex, attempt, reason, ct))
            logger.LogError("Shard {Job}/{Shard} failed: {Reason}", jobId, shardIndex, reason);
    }

    /// <summary>One monitor pass; returns how many shards it acted on.</summary>
    public async Task<int> SweepAsync(CancellationToken ct)
    {
        var acted = 0;
        foreach (var expired in await store.FindExpiredLeasesAsync(options.MonitorBatch, ct))
        {
            await RetryOrFailAsync(expired.JobId, expired.ShardIndex, expired.Attempt,
                $"lease expired (worker {expired.LeaseOwner ?? "unknown"} stopped renewing it)", ct);
            acted++;
        }
        var unsent = await store.FindUnsentShardsAsync(options.MonitorBatch, ct);
        if (unsent.Count > 0)
            acted += await sender.SendAsync(unsent, ct);
        foreach (var job in await store.FinishIdleJobsAsync(ct))
            logger.LogInformation("Job {Job} finished", job);
        return acted;
    }

    /// <summary>Send every shard that is queued but unsent (after a hand-back).</summary>
    public async Task SendUnsentAsync(CancellationToken ct)
    {
        var unsent = await store.FindUnsentShardsAsync(options.MonitorBatch, ct);
        if (unsent.Count > 0)
            await sender.SendAsync(unsent, ct);
    }
}
