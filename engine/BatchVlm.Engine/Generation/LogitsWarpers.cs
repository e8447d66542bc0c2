// Host-side next-token selection over one row of logits: arg-max, log-softmax, and the sampling warpers in Hugging
// Face's order (temperature -> top-k -> top-p, transformers 4.46.1 generation/logits_process.py
// TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper) followed by a seeded multinomial draw. Rows are
// vocabulary-sized float spans; these are plain scalar loops (one row per token per step, not a hot path next to
// the decoder's matrix-vector products).
namespace BatchVlm.Engine.Generation;

public static class LogitsWarpers
{
    /// <summary>Index of the largest value; the first one on ties (torch.argmax). NaN is never chosen unless all are NaN.</summary>
    public static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        float bestValue = float.NegativeInfinity;
        bool found = false;
        for (int i = 0; i < row.Length; i++)
        {
            float v = row[i];
            if (float.IsNaN(v)) continue;
            if (!found || v > bestValue) { best = i; bestValue = v; found = true; }
        }
        return best;
    }

    /// <summary>dst = log_softmax(src), computed in double for the normaliser (torch computes it in f32; the difference is
    /// below f32 rounding of the result).</summary>
    public static void LogSoftmax(ReadOnlySpan<float> src, Span<float> dst)
    {
        float max = float.NegativeInfinity;
        foreach (var v in src) if (v > max) max = v;
        double sum = 0;
        foreach (var v in src) sum += Math.Exp(v - max);
        float logZ = max + (float)Math.Log(sum);
        for (int i = 0; i < src.Length; i++) dst[i] = src[i] - logZ;
    }

    /// <summary>Applies temperature, top-k and top-p in place (removed entries become -inf), as HF's warpers do.</summary>
    public static void Warp(Span<float> scores, float temperature, int topK, float topP, int minTokensToKeep = 1)
    {
        if (temperature != 1.0f)
            for (int i = 0; i < scores.Length; i++) scores[i] /= temperature;
        if (topK > 0) TopK(scores, Math.Max(topK, minTokensToKeep));
        if (topP < 1.0f) TopP(scores, topP, minTokensToKeep);
    }

    /// <summary>Keeps every score &gt;= the k-th largest (ties at the threshold survive, as in HF); others become -inf.</summary>
    public static void TopK(Span<float> scores, int k)
    {
        if (k >= scores.Length) return;
        // k-th largest through a size-k min-heap: O(V log k) instead of sorting the vocabulary every step.
        var heap = new PriorityQueue<float, float>(k + 1);
        foreach (var v in scores)
        {
            if (float.IsNaN(v)) continue;
            if (heap.Count < k) heap.Enqueue(v, v);
            else if (v > heap.Peek()) heap.EnqueueDequeue(v, v);
        }
        if (heap.Count < k) return;
        float threshold = heap.Peek();
        for (int i = 0; i < scores.Length; i++)
            if (!(scores[i] >= threshold)) scores[i] = float.NegativeInfinity;
    }

    /// <summary>Nucleus filter: sort ascending, remove tokens whose cumulative probability is &lt;= 1 - topP, always keeping
    /// the <paramref name="minTokensToKeep"/> most likely (HF TopPLogitsWarper). Entries already at -inf have zero
    /// probability and stay removed, so only the finite ones are sorted.</summary>
    public static void TopP(Span<float> scores, float topP, int minTokensToKeep = 1)
    {
        var live = new List<int>();
        for (int i = 0; i < scores.Length; i++)
            if (!float.IsNegativeInfinity(scores[i])) live.Add(i);
        int n = live.Count;
        if (n == 0) return;
        var order = live.ToArray();
        var keys = new float[n];
        for (int i = 0; i < n; i++) keys[i] = scores[order[i]];
        Array.Sort(keys, order); // ascending, like torch.sort(descending=False)
        float max = keys[n - 1];
        double sum = 0;
        for (int i = 0; i < n; i++) sum += Math.Exp(keys[i] - max);
        double cumulative = 0;
        // HF compares with 1 - top_p in double; take the float's shortest decimal form (0.9f -> 0.9) so the cut is the
        // one the user wrote, not 1 - 0.899999976.
        double cut = 1.0 - double.Parse(topP.ToString(System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);
        for (int i = 0; i < n; i++)
        {
            cumulative += Math.Exp(keys[i] - max) / sum;
            bool keepTail = i >= n - minTokensToKeep;
            if (cumulative <= cut && !keepTail) scores[order[i]] = float.NegativeInfinity;
        }
    }

    /// <summary>Draws an index from softmax(scores) with one uniform number in [0, 1).</summary>
    public static int Sample(ReadOnlySpan<float> scores, double uniform)
    {
        float max = float.NegativeInfinity;
        foreach (var v in scores) if (v > max) max = v;
        double sum = 0;
        foreach (var v in scores) sum += Math.Exp(v - max);
        double target = uniform * sum, acc = 0;
        int last = -1;
        for (int i = 0; i < scores.Length; i++)
        {
            if (float.IsNegativeInfinity(scores[i])) continue;
            acc += Math.Exp(scores[i] - max);
            last = i;
            if (acc > target) return i;
        }
        return last < 0 ? ArgMax(scores) : last; // rounding left target == sum: take the last live token
    }
}

/// <summary>A small seeded generator (SplitMix64) so sampled ids do not depend on the runtime's Random algorithm.</summary>
public sealed class SplitMix64
{
    private ulong _state;

    public SplitMix64(ulong seed) => _state = seed;

    /// <summary>A stream for row <paramref name="row"/> of a run seeded with <paramref name="seed"/>.</summary>
    public static SplitMix64 ForRow(ulong seed, int row)
    {
        var mixer = new SplitMix64(seed);
        ulong s = mixer.NextUInt64() ^ (0x9E3779B97F4A7C15UL * (ulong)(row + 1));
        return new SplitMix64(s);
    }

    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));
}
