// The KV cache: appended keys/values read back in order, growth past the preallocated capacity, row gathering
// (beam reorder, dropping finished rows) and truncation.
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Tests.Generation;

public sealed class KvCacheTests
{
    private static readonly CpuBackendBase Be = ReferenceBackend.Instance;

    // (B, 1, Hkv=1, D=2) step whose values encode (row, position, k/v)
    private static Tensor Step(int rows, int pos, float kind) =>
        Be.FromFloats(Enumerable.Range(0, rows).SelectMany(r => new[] { r * 100 + pos + kind, -(r * 100 + pos + kind) }).ToArray(), rows, 1, 1, 2);

    [Fact]
    public void Append_PastCapacity_GrowsAndKeepsEverything()
    {
        using var cache = new KvCache(Be, layers: 1, batchSize: 2, capacity: 2, kvHeads: 1, headDim: 2);
        Tensor? k = null, v = null;
        for (int pos = 0; pos < 5; pos++)
        {
            k?.Dispose(); v?.Dispose();
            using var ks = Step(2, pos, 0f);
            using var vs = Step(2, pos, 0.5f);
            (k, v) = cache.Append(0, ks, vs);
        }
        Assert.Equal(5, cache.Length);
        Assert.True(cache.Capacity >= 5);
        var keys = k!.ToFloatArray();   // (2, 5, 1, 2)
        var values = v!.ToFloatArray();
        for (int r = 0; r < 2; r++)
            for (int p = 0; p < 5; p++)
            {
                Assert.Equal(r * 100 + p, keys[(r * 5 + p) * 2]);
                Assert.Equal(r * 100 + p + 0.5f, values[(r * 5 + p) * 2]);
            }
        k.Dispose(); v!.Dispose();
    }

    [Fact]
    public void SelectRows_ReordersRepeatsAndDrops_TruncateForgets()
    {
        using var cache = new KvCache(Be, 1, 2, 4, 1, 2);
        for (int pos = 0; pos < 3; pos++)
        {
            using var ks = Step(2, pos, 0f);
            using var vs = Step(2, pos, 0.5f);
            var (k, v) = cache.Append(0, ks, vs);
            k.Dispose(); v.Dispose();
        }
        cache.SelectRows([1, 1, 0]);
        Assert.Equal(3, cache.BatchSize);
        using (var ks = Step(3, 3, 0f))
        using (var vs = Step(3, 3, 0.5f))
        {
            var (k, v) = cache.Append(0, ks, vs);
            var keys = k.ToFloatArray(); // (3, 4, 1, 2)
            Assert.Equal(100 + 2, keys[(0 * 4 + 2) * 2]); // old row 1, position 2
            Assert.Equal(100 + 2, keys[(1 * 4 + 2) * 2]);
            Assert.Equal(0 + 2, keys[(2 * 4 + 2) * 2]);   // old row 0
            Assert.Equal(2 * 100 + 3, keys[(2 * 4 + 3) * 2]); // the new step's row 2
            k.Dispose(); v.Dispose();
        }
        cache.Truncate(1);
        Assert.Equal(1, cache.Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Truncate(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.SelectRows([3]));
    }

    [Fact]
    public void Append_WrongShape_Throws()
    {
        using var cache = new KvCache(Be, 1, 2, 4, 1, 2);
        using var bad = Be.FromFloats(new float[6], 3, 1, 1, 2);
        var e = Assert.Throws<ArgumentException>(() => cache.Append(0, bad, bad));
        Assert.Contains("B=2", e.Message);
    }
}
