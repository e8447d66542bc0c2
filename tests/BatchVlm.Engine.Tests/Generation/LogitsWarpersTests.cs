// Next-token selection against the behaviour of Hugging Face's warpers (transformers 4.46.1 logits_process.py):
// arg-max ties, top-k ties at the threshold, top-p's ascending cumulative cut, temperature, and sampling frequencies.
using BatchVlm.Engine.Generation;

namespace BatchVlm.Engine.Tests.Generation;

public sealed class LogitsWarpersTests
{
    [Fact]
    public void ArgMax_Ties_TakeFirst()
    {
        Assert.Equal(1, LogitsWarpers.ArgMax([0f, 3f, 3f, -1f]));
        Assert.Equal(2, LogitsWarpers.ArgMax([float.NaN, -5f, 2f]));
    }

    [Fact]
    public void TopK_KeepsTiesAtThreshold()
    {
        float[] s = [1f, 5f, 3f, 3f, 0f];
        LogitsWarpers.TopK(s, 2);
        Assert.Equal([float.NegativeInfinity, 5f, 3f, 3f, float.NegativeInfinity], s);
    }

    [Fact]
    public void TopP_RemovesTailWhoseCumulativeMassIsAtMostOneMinusP()
    {
        // probabilities 0.5, 0.3, 0.15, 0.05: ascending cumsum 0.05, 0.20, 0.50, 1.0; top_p 0.75 removes cumsum <= 0.25.
        float[] p = [0.5f, 0.3f, 0.15f, 0.05f];
        var s = p.Select(x => MathF.Log(x)).ToArray();
        LogitsWarpers.TopP(s, 0.75f);
        Assert.False(float.IsNegativeInfinity(s[0]));
        Assert.False(float.IsNegativeInfinity(s[1]));
        Assert.True(float.IsNegativeInfinity(s[2]));
        Assert.True(float.IsNegativeInfinity(s[3]));
    }

    [Fact]
    public void TopP_Tiny_KeepsAtLeastOne()
    {
        float[] s = [0f, 1f, 2f];
        LogitsWarpers.TopP(s, 1e-6f);
        Assert.Equal(1, s.Count(v => !float.IsNegativeInfinity(v)));
        Assert.Equal(2f, s[2]);
    }

    [Fact]
    public void Warp_TemperatureDividesBeforeFilters()
    {
        float[] s = [2f, 4f, 6f];
        LogitsWarpers.Warp(s, temperature: 2f, topK: 0, topP: 1f);
        Assert.Equal([1f, 2f, 3f], s);
    }

    [Fact]
    public void LogSoftmax_SumsToOne()
    {
        float[] x = [1f, 2f, 3f, -100f];
        var lp = new float[4];
        LogitsWarpers.LogSoftmax(x, lp);
        Assert.Equal(1.0, lp.Sum(v => Math.Exp(v)), 6);
        Assert.Equal(3f - MathF.Log(MathF.Exp(1f) + MathF.Exp(2f) + MathF.Exp(3f)), lp[2], 5);
    }

    [Fact]
    public void Sample_FrequenciesFollowSoftmax()
    {
        float[] s = [MathF.Log(0.2f), MathF.Log(0.5f), float.NegativeInfinity, MathF.Log(0.3f)];
        var rng = new SplitMix64(42);
        var counts = new int[4];
        const int n = 100_000;
        for (int i = 0; i < n; i++) counts[LogitsWarpers.Sample(s, rng.NextDouble())]++;
        Assert.Equal(0, counts[2]);
        Assert.InRange(counts[0] / (double)n, 0.19, 0.21);
        Assert.InRange(counts[1] / (double)n, 0.49, 0.51);
        Assert.InRange(counts[3] / (double)n, 0.29, 0.31);
    }

    [Fact]
    public void SplitMix64_RowStreams_AreDistinctAndDeterministic()
    {
        var a = SplitMix64.ForRow(9, 0).NextUInt64();
        Assert.Equal(a, SplitMix64.ForRow(9, 0).NextUInt64());
        Assert.NotEqual(a, SplitMix64.ForRow(9, 1).NextUInt64());
        Assert.NotEqual(a, SplitMix64.ForRow(10, 0).NextUInt64());
    }
}
