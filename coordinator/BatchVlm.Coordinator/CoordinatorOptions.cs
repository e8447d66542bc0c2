// Coordinator settings, bound to the "Coordinator" configuration section (BATCHVLM_Coordinator__MaxAttempts=3 or
// --Coordinator:LeaseCheckInterval=00:00:02). Every default documented.
namespace BatchVlm.Coordinator;

public sealed record CoordinatorOptions
{
    public const string SectionName = "Coordinator";

    /// <summary>Attempts per shard (first send included) before it fails for good, its items recorded as item errors
    /// of kind shard_failed. Default 5.</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>How often the lease monitor looks for expired leases, unsent shards and finished jobs. Default 5 s.</summary>
    public TimeSpan LeaseCheckInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Shards handled per monitor pass and per kind (expired, unsent). Default 1000.</summary>
    public int MonitorBatch { get; init; } = 1000;

    /// <summary>Longest wait for the broker to accept one send (Send blocks while the broker is down,
    /// infra-probe §4). A shard whose send timed out stays unsent and the monitor sends it later. Default 10 s.</summary>
    public TimeSpan SendTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Sends in flight at once when a job's shards go out. Default 64.</summary>
    public int SendParallelism { get; init; } = 64;
}
