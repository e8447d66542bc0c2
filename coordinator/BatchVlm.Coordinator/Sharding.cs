// Cutting a job's input into shards: keys de-duplicated and sorted ordinally (so a job's shards are reproducible from
// its listing), then consecutive runs of ShardSize keys.
namespace BatchVlm.Coordinator;

public static class Sharding
{
    /// <summary>Most items one shard may hold (a ProcessShard message carries its keys: 10,000 keys ≈ 0.5 MB).</summary>
    public const int MaxShardSize = 10_000;

    public static IReadOnlyList<IReadOnlyList<string>> Cut(IEnumerable<string> keys, int shardSize)
    {
        if (shardSize is < 1 or > MaxShardSize)
            throw new ArgumentOutOfRangeException(nameof(shardSize), shardSize, $"shard size must be between 1 and {MaxShardSize}");
        var sorted = keys.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        return sorted.Chunk(shardSize).Select(c => (IReadOnlyList<string>)c).ToArray();
    }
}
