// Caches coefficient tables per (input size, output size, filter): a batch of same-sized images (the common case:
// one camera, one archive) computes them once. Also holds the tap-expanded weight layouts the SIMD kernels read.
using System.Collections.Concurrent;

namespace BatchVlm.Imaging.Resampling;

internal static class CoefficientCache
{
    internal sealed class Entry
    {
        internal required ResampleCoefficients Coefficients { get; init; }
        /// <summary>Taps in groups of 4 (AVX-512): per output pixel Groups4 × 16 ints, each tap as (w, w, w, 0).</summary>
        internal required int[] Expanded4 { get; init; }
        internal required int Groups4 { get; init; }
        /// <summary>Taps in groups of 2 (AVX2): per output pixel Groups2 × 8 ints.</summary>
        internal required int[] Expanded2 { get; init; }
        internal required int Groups2 { get; init; }
    }

    private static readonly ConcurrentDictionary<(int, int, ResampleFilter), Entry> Cache = new();

    internal static Entry Get(int inSize, int outSize, ResampleFilter filter)
    {
        if (Cache.Count > 4096) Cache.Clear();
        return Cache.GetOrAdd((inSize, outSize, filter), static key => Build(key.Item1, key.Item2, key.Item3));
    }

    private static Entry Build(int inSize, int outSize, ResampleFilter filter)
    {
        var c = ResampleCoefficients.Compute(inSize, 0f, inSize, outSize, filter);
        int maxTaps = 1;
        for (int i = 0; i < outSize; i++) maxTaps = Math.Max(maxTaps, c.Bounds[i * 2 + 1]);
        int g4 = (maxTaps + 3) / 4, g2 = (maxTaps + 1) / 2;
        return new Entry
        {
            Coefficients = c,
            Groups4 = g4, Expanded4 = Expand(c, 4, g4),
            Groups2 = g2, Expanded2 = Expand(c, 2, g2),
        };
    }

    private static int[] Expand(ResampleCoefficients c, int tapsPerGroup, int groups)
    {
        int perPixel = groups * tapsPerGroup * 4;
        var e = new int[c.OutSize * perPixel];
        for (int xx = 0; xx < c.OutSize; xx++)
        {
            int taps = c.Bounds[xx * 2 + 1];
            for (int t = 0; t < taps; t++)
            {
                int w = c.Weights[xx * c.KSize + t];
                int o = xx * perPixel + t * 4;
                e[o] = e[o + 1] = e[o + 2] = w; // 4th lane stays 0
            }
        }
        return e;
    }
}
