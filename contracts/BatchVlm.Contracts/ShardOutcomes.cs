// Events a worker publishes about a shard (past tense). The worker has already committed the shard's results and its
// "done" mark in PostgreSQL before it publishes ShardCompleted, so the coordinator uses these events only to move
// the job forward promptly; its lease monitor finds the same facts in the database when an event is lost.
namespace BatchVlm.Contracts;

/// <summary>A shard's results were written and the shard marked succeeded, in one transaction.</summary>
/// <param name="Succeeded">Items of this shard with a result row.</param>
/// <param name="Failed">Items of this shard recorded as item errors (permanent per-item failures).</param>
/// <param name="Skipped">Items that already had a result from an earlier attempt and were not processed again.</param>
public sealed record ShardCompleted(
    Guid JobId,
    int ShardIndex,
    int Attempt,
    string WorkerId,
    int Succeeded,
    int Failed,
    int Skipped,
    double Seconds);

/// <summary>A worker could not finish a shard. Transient failures (broker, database, blob store outages that outlived
/// the worker's own retries) are re-sent by the coordinator up to its attempt limit; permanent ones (unknown task,
/// unreadable input address) fail the shard at once, each of its items recorded as an item error with Reason.</summary>
public sealed record ShardFailed(
    Guid JobId,
    int ShardIndex,
    int Attempt,
    string WorkerId,
    string Reason,
    bool Transient);

/// <summary>A worker stopped before finishing a shard (shutdown, or the shard ran past its time bound) and handed it
/// back: results for the items it finished are committed, its lease is released, and the shard is queued again.</summary>
public sealed record ShardHandedBack(
    Guid JobId,
    int ShardIndex,
    int Attempt,
    string WorkerId,
    int Finished,
    string Reason);
