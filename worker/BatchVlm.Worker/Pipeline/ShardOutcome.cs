// What processing one ProcessShard delivery came to; the consumer turns it into the outcome message.
namespace BatchVlm.Worker.Pipeline;

public abstract record ShardOutcome
{
    /// <summary>Results and the done mark are committed.</summary>
    public sealed record Completed(int Succeeded, int FailedItems, int SkippedItems, double Seconds) : ShardOutcome;

    /// <summary>The shard cannot be processed here. Transient: the coordinator re-sends it (attempt+1).</summary>
    public sealed record Failed(string Reason, bool Transient) : ShardOutcome;

    /// <summary>Finished items committed, lease released, shard queued again (shutdown or time bound).</summary>
    public sealed record HandedBack(int Finished, string Reason) : ShardOutcome;

    /// <summary>Nothing to do for this delivery (stale attempt, already finished, leased elsewhere, job cancelled, or
    /// the lease was lost while working).</summary>
    public sealed record Skipped(string Reason) : ShardOutcome;
}
