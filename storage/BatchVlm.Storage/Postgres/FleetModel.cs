// The records the fleet store speaks in: a new job with its shards, snapshots of jobs and shards, a shard commit
// (result rows + item errors + the "done" mark, written in one transaction) and the answers to a worker's claim.
// Shared by coordinator and worker; implemented by PostgresFleetStore and, for `batchvlm run` without a database,
// InMemoryFleetStore.
namespace BatchVlm.Storage.Postgres;

/// <summary>Job states. Terminal: completed (every item succeeded), completed_with_errors, cancelled.</summary>
public static class JobStates
{
    public const string Running = "running";
    public const string Completed = "completed";
    public const string CompletedWithErrors = "completed_with_errors";
    public const string Cancelled = "cancelled";

    public static bool IsTerminal(string state) => state is Completed or CompletedWithErrors or Cancelled;
}

/// <summary>Shard states: queued → running → succeeded | failed | cancelled.</summary>
public static class ShardStates
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
}

/// <summary>A job to create, with its shards already cut (each a list of item keys). ResultTable: the task's
/// result table name (ResultTable.Name), where FailShard looks for items that already have an outcome.</summary>
public sealed record NewJob(
    Guid JobId,
    string Task,
    string Model,
    string ParametersJson,
    string InputAddress,
    string ResultTable,
    int ShardSize,
    int MaxAttempts,
    IReadOnlyList<IReadOnlyList<string>> Shards)
{
    public long TotalItems => Shards.Sum(s => (long)s.Count);
}

/// <summary>What `status` shows about a job.</summary>
public sealed record JobSnapshot(
    Guid JobId,
    string Task,
    string Model,
    string ParametersJson,
    string InputAddress,
    string State,
    long Total,
    long Succeeded,
    long Failed,
    int TotalShards,
    int ShardsQueued,
    int ShardsRunning,
    int ShardsSucceeded,
    int ShardsFailed,
    int ShardSize,
    int MaxAttempts,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? FinishedAt)
{
    public long Pending => Math.Max(0, Total - Succeeded - Failed);
}

/// <summary>A shard that must be (re)sent, with everything its ProcessShard message needs. Dispatch identifies this
/// particular need to send (see Migrations/0003_shard_dispatch.sql); MarkSent matches it.</summary>
public sealed record ShardToSend(
    Guid JobId,
    int ShardIndex,
    int Attempt,
    string Task,
    string Model,
    string ParametersJson,
    string InputAddress,
    IReadOnlyList<string> ItemKeys,
    int Dispatch = 0);

/// <summary>A shard whose lease ran out (its worker stopped heartbeating).</summary>
public sealed record ExpiredShard(Guid JobId, int ShardIndex, int Attempt, string? LeaseOwner);

public enum ShardClaimStatus
{
    /// <summary>The caller now holds the lease and must process the shard.</summary>
    Claimed,
    /// <summary>The shard already succeeded, failed or was cancelled.</summary>
    AlreadyFinished,
    /// <summary>The message is from an older attempt; the coordinator has re-sent the shard since.</summary>
    StaleAttempt,
    /// <summary>Another worker holds a live lease (e.g. a broker redelivery while the first worker still works).</summary>
    LeasedElsewhere,
    /// <summary>The job was cancelled (or is otherwise not running).</summary>
    JobNotRunning,
    /// <summary>No such shard.</summary>
    NotFound,
}

/// <summary>The answer to a worker's claim. DoneKeys: items that already have a result row (from an earlier,
/// handed-back attempt) and need no processing.</summary>
public sealed record ShardClaim(ShardClaimStatus Status, IReadOnlySet<string> DoneKeys, string? Detail = null);

/// <summary>A permanent per-item failure: the item, a short machine-readable kind and a human-readable reason.</summary>
public sealed record ItemError(string ItemKey, string Kind, string Reason);

/// <summary>Results of (part of) a shard to write. Final: also mark the shard succeeded; otherwise (hand-back) the
/// lease is released and the shard queued again with the same attempt.</summary>
public sealed record ShardCommit(
    Guid JobId,
    int ShardIndex,
    int Attempt,
    string WorkerId,
    ResultTable Table,
    IReadOnlyList<IResultRow> Rows,
    IReadOnlyList<ItemError> Errors,
    bool Final,
    int Skipped = 0,
    string? HandBackReason = null);

/// <summary>What a commit changed: items newly succeeded / failed (net, after moving items between the result table
/// and item_errors), whether this commit marked the shard done, and the job state afterwards.</summary>
public sealed record CommitOutcome(long SucceededDelta, long FailedDelta, bool MarkedDone, string JobState);
