// Worker settings, bound to the "Worker" configuration section (BATCHVLM_Worker__Concurrency=2, or
// --Worker:LeaseDuration=00:00:20 on the command line). Every default is documented and chosen for slow GPU shards.
namespace BatchVlm.Worker;

public sealed record WorkerOptions
{
    public const string SectionName = "Worker";

    /// <summary>Shards processed at once per task/model queue. Default 1: a GPU runs one model batch at a time, and a
    /// prefetched-but-waiting delivery ages towards RabbitMQ's consumer_timeout (research/anchors.md §5.2).</summary>
    public int Concurrency { get; init; } = 1;

    /// <summary>Deliveries the broker may push ahead per queue. Default 0 = same as Concurrency (nothing waits unacked).</summary>
    public int PrefetchCount { get; init; }

    /// <summary>Concurrent blob downloads per shard. Default 8.</summary>
    public int DownloadConcurrency { get; init; } = 8;

    /// <summary>Threads decoding/preprocessing items (the Prepare stage) per shard. Default 0 = processor count.</summary>
    public int DecodeThreads { get; init; }

    /// <summary>Lease a worker holds on its shard; if it stops heartbeating for this long the coordinator re-sends the
    /// shard. Default 30 s.</summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the lease is extended. Default 10 s (three renewals per lease).</summary>
    public TimeSpan LeaseRenewInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest time one delivery is worked on. When reached, the worker commits the items it finished and
    /// hands the shard back (re-queued; the next attempt skips finished items), so no delivery stays unacknowledged
    /// near RabbitMQ's consumer_timeout (default 30 min; channel closed and all its deliveries requeued when hit).
    /// Default 20 min.</summary>
    public TimeSpan MaxShardDuration { get; init; } = TimeSpan.FromMinutes(20);

    /// <summary>In-memory redeliveries of a shard after a transient failure (MassTransit UseMessageRetry), before the
    /// worker reports ShardFailed(transient) and the coordinator re-sends it. Default 3.</summary>
    public int RetryLimit { get; init; } = 3;

    /// <summary>First retry interval; later ones double. Default 2 s.</summary>
    public TimeSpan RetryInterval { get; init; } = TimeSpan.FromSeconds(2);

    public int EffectivePrefetch => PrefetchCount > 0 ? PrefetchCount : Math.Max(1, Concurrency);
    public int EffectiveDecodeThreads => DecodeThreads > 0 ? DecodeThreads : Environment.ProcessorCount;
}
