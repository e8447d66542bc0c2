// Caches coefficient tables per (input size, output size, filter): a batch of same-sized images (the common case:
// one camera, one archive) computes them once. Also holds the tap-expanded weight layouts the SIMD kernels read.
// Bounded by bytes, not entries: one entry for a 65,500-pixel axis reduced to 224 holds about 8 MB, and an archive
// of mixed sizes makes a new key per distinct width and height.
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

        internal long Bytes => 4L * (Coefficients.Weights.Length + Coefficients.Bounds.Length + Expanded4.Length + Expanded2.Length);
    }

    /// <summary>When the cached tables pass this many bytes the cache starts over (64 MiB).</summary>
    internal const long MaxBytes = 64L << 20;

    private static readonly ConcurrentDictionary<(int, int, ResampleFilter), Entry> Cache = new();
    private static long _bytes;

    /// <summary>Bytes held by the cached tables as counted on insertion.</summary>
    internal static long CachedBytes => Interlocked.Read(ref _bytes);

    internal static Entry Get(int inSize, int outSize, ResampleFilter filter)
    {
        var key = (inSize, outSize, filter);
        if (Cache.TryGetValue(key, out var entry)) return entry;
        entry = Build(inSize, outSize, filter);
        long bytes = entry.Bytes;
        // Approximate under races (two threads may build and count the same key): it errs towards clearing early.
        if (Interlocked.Add(ref _bytes, bytes) > MaxBytes)
        {
            Cache.Clear();
            Interlocked.Exchange(ref _bytes, bytes);
        }
        return Cache.GetOrAdd(key, entry);
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
