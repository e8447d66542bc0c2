// The fleet's state: jobs, shards with leases, results and item errors. Everything the coordinator and workers
// decide is recorded here, so any process can die and restart without losing a job. PostgresFleetStore is the real
// one; InMemoryFleetStore backs `batchvlm run` when no database is configured. (Kept in the Postgres folder because
// the PostgreSQL store defines these semantics; the in-memory one mirrors them.)
using System.Text.Json.Nodes;

namespace BatchVlm.Storage.Postgres;

public interface IFleetStore
{
    /// <summary>Create the job and all its shards (state queued, attempt 1, not yet sent) in one transaction.</summary>
    Task CreateJobAsync(NewJob job, CancellationToken ct = default);

    /// <summary>Record that these shards were sent to the broker; only a shard still at the same attempt and dispatch
    /// is marked (one handed back or re-queued since stays unsent, for the monitor to send).</summary>
    Task MarkSentAsync(IReadOnlyList<ShardToSend> shards, CancellationToken ct = default);

    Task<JobSnapshot?> GetJobAsync(Guid jobId, CancellationToken ct = default);

    /// <summary>Most recent jobs first.</summary>
    Task<IReadOnlyList<JobSnapshot>> ListJobsAsync(int limit, CancellationToken ct = default);

    /// <summary>A worker claims a shard: takes the lease when the shard is queued (or running with an expired lease)
    /// at this attempt and its job is running.</summary>
    Task<ShardClaim> ClaimShardAsync(Guid jobId, int shardIndex, int attempt, string workerId, TimeSpan lease,
        ResultTable table, IReadOnlyList<string> itemKeys, CancellationToken ct = default);

    /// <summary>Extend the caller's lease; false when it lost the shard (re-sent, cancelled, finished elsewhere).</summary>
    Task<bool> ExtendLeaseAsync(Guid jobId, int shardIndex, int attempt, string workerId, TimeSpan lease, CancellationToken ct = default);

    /// <summary>Write result rows and item errors idempotently and, when final, mark the shard succeeded and finish the
    /// job if it was its last open shard — all in one transaction.</summary>
    Task<CommitOutcome> CommitShardAsync(ShardCommit commit, CancellationToken ct = default);

    /// <summary>Queue the shard again with attempt+1 (lease expired, transient failure) when it is still open at
    /// <paramref name="fromAttempt"/> and below the job's attempt limit. Null when not re-queued: the caller then
    /// fails it (limit reached) or leaves it (someone else moved it on) — see <paramref name="limitReached"/>.</summary>
    Task<ShardToSend?> RequeueShardAsync(Guid jobId, int shardIndex, int fromAttempt, string reason,
        Action<bool>? limitReached = null, CancellationToken ct = default);

    /// <summary>Fail an open shard for good: its items without an outcome become item errors (kind shard_failed) with
    /// the reason; finishes the job when it was the last open shard. False when the shard was no longer open.</summary>
    Task<bool> FailShardAsync(Guid jobId, int shardIndex, int attempt, string reason, CancellationToken ct = default);

    /// <summary>Running shards whose lease expired before now.</summary>
    Task<IReadOnlyList<ExpiredShard>> FindExpiredLeasesAsync(int limit, CancellationToken ct = default);

    /// <summary>Queued shards of running jobs that were never sent at their current attempt.</summary>
    Task<IReadOnlyList<ShardToSend>> FindUnsentShardsAsync(int limit, CancellationToken ct = default);

    /// <summary>Finish running jobs that have no open shard left (after a lost event); returns the jobs finished.</summary>
    Task<IReadOnlyList<Guid>> FinishIdleJobsAsync(CancellationToken ct = default);

    /// <summary>Cancel a running job: open shards become cancelled; workers stop at their next heartbeat.</summary>
    Task<bool> CancelJobAsync(Guid jobId, CancellationToken ct = default);

    /// <summary>Re-run the job's failed items as new shards (appended indexes) and set the job running again.
    /// Returns the new shards (empty when nothing failed).</summary>
    Task<IReadOnlyList<ShardToSend>> RetryFailedItemsAsync(Guid jobId, int shardSize, CancellationToken ct = default);

    /// <summary>One JSON object per result row and per failed item, ordered by item key:
    /// {"item_key", "status": "succeeded"|"failed", task columns... | "error_kind", "error"}.</summary>
    IAsyncEnumerable<JsonObject> ReadResultsAsync(Guid jobId, ResultTable table, CancellationToken ct = default);
}
