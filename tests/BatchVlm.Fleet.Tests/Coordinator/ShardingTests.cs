// Sharding: keys de-duplicated, sorted ordinally, cut into consecutive runs of the shard size.
using BatchVlm.Coordinator;

namespace BatchVlm.Fleet.Tests.Coordinator;

public sealed class ShardingTests
{
    [Fact]
    public void Cut_UnsortedWithDuplicates_SortedDistinctRuns()
    {
        var shards = Sharding.Cut(["c", "a", "b", "a", "e", "d", "B"], 2);
        Assert.Equal([["B", "a"], ["b", "c"], ["d", "e"]], shards.Select(s => s.ToArray()).ToArray());
    }

    [Fact]
    public void Cut_ExactMultiple_NoEmptyShard()
    {
        var keys = Enumerable.Range(0, 1000).Select(i => $"k{i:D5}").ToArray();
        var shards = Sharding.Cut(keys, 100);
        Assert.Equal(10, shards.Count);
        Assert.All(shards, s => Assert.Equal(100, s.Count));
        Assert.Equal(keys, shards.SelectMany(s => s));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(Sharding.MaxShardSize + 1)]
    public void Cut_ShardSizeOutOfRange_Throws(int size) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Sharding.Cut(["a"], size));
}
