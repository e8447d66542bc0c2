// Prompt batches for generation, shared by every decoder (Gemma, PaliGemma, OPT, T5, BLIP-2): left padding into
// (B, T) ids and mask, the position ids HF's generate() derives from the mask, and the checks batched decoding needs.
// Model-independent, so they live beside the Generator rather than in one model's file.
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Generation;

public static class PromptBatch
{
    /// <summary>Left-pads token lists into (B, T) ids and mask.</summary>
    public static (long[,] Ids, long[,] Mask) LeftPad(IReadOnlyList<IReadOnlyList<int>> prompts, int padTokenId)
    {
        if (prompts.Count == 0) throw new ArgumentException("no prompts");
        int t = prompts.Max(p => p.Count);
        if (t == 0) throw new ArgumentException("every prompt is empty");
        var ids = new long[prompts.Count, t];
        var mask = new long[prompts.Count, t];
        for (int r = 0; r < prompts.Count; r++)
        {
            if (prompts[r].Count == 0) throw new ArgumentException($"prompt {r} is empty");
            int pad = t - prompts[r].Count;
            for (int j = 0; j < t; j++)
            {
                ids[r, j] = j < pad ? padTokenId : prompts[r][j - pad];
                mask[r, j] = j < pad ? 0 : 1;
            }
        }
        return (ids, mask);
    }

    /// <summary>generate()'s positions: cumsum(mask) − 1 with padding set to 1, then + firstPosition (PaliGemma passes 1:
    /// its positions are 1-based, pads get 2). Pad positions only feed queries nobody attends to.</summary>
    internal static long[,] GenerationPositions(long[,] mask, long firstPosition)
    {
        int b = mask.GetLength(0), t = mask.GetLength(1);
        var pos = new long[b, t];
        for (int r = 0; r < b; r++)
        {
            long c = 0;
            for (int j = 0; j < t; j++)
            {
                c += mask[r, j] != 0 ? 1 : 0;
                pos[r, j] = (mask[r, j] != 0 ? c - 1 : 1) + firstPosition;
            }
        }
        return pos;
    }

    internal static long[,] Arange(int b, int t, long first)
    {
        var p = new long[b, t];
        for (int r = 0; r < b; r++)
            for (int j = 0; j < t; j++) p[r, j] = first + j;
        return p;
    }

    internal static long[,] Ones(int b, int t)
    {
        var m = new long[b, t];
        for (int r = 0; r < b; r++)
            for (int j = 0; j < t; j++) m[r, j] = 1;
        return m;
    }

    internal static long[] Flatten(long[,] a)
    {
        var f = new long[a.Length];
        Buffer.BlockCopy(a, 0, f, 0, a.Length * sizeof(long));
        return f;
    }

    /// <summary>(B, T) key padding tensor from a 1/0 mask, or null when nothing is padded (or there is no mask).</summary>
    internal static Tensor? KeyPadding(IBackend backend, long[,]? mask)
    {
        if (mask is null) return null;
        var flat = Flatten(mask);
        if (flat.All(v => v != 0)) return null;
        return backend.FromInt64(flat, mask.GetLength(0), mask.GetLength(1));
    }

    /// <summary>input_ids (B, T) non-empty and inside [0, vocabSize); mask and position ids, when given, of the same shape.</summary>
    internal static void CheckIds(long[,] ids, int vocabSize, long[,]? mask = null, long[,]? positions = null)
    {
        int b = ids.GetLength(0), t = ids.GetLength(1);
        if (b == 0 || t == 0) throw new ArgumentException($"input_ids is empty ({b}, {t})");
        for (int r = 0; r < b; r++)
            for (int j = 0; j < t; j++)
                if ((ulong)ids[r, j] >= (ulong)vocabSize)
                    throw new ArgumentException($"input_ids[{r}, {j}] = {ids[r, j]} is outside the vocabulary [0, {vocabSize})");
        if (mask is not null && (mask.GetLength(0) != b || mask.GetLength(1) != t))
            throw new ArgumentException($"attention_mask is ({mask.GetLength(0)}, {mask.GetLength(1)}) but input_ids is ({b}, {t})");
        if (positions is not null && (positions.GetLength(0) != b || positions.GetLength(1) != t))
            throw new ArgumentException($"position_ids is ({positions.GetLength(0)}, {positions.GetLength(1)}) but input_ids is ({b}, {t})");
    }

    /// <summary>Batched generation appends after the last column, so every row must end with a real token.</summary>
    internal static void CheckLeftPadded(long[,] mask)
    {
        int b = mask.GetLength(0), t = mask.GetLength(1);
        for (int r = 0; r < b; r++)
        {
            bool seenReal = false;
            for (int j = 0; j < t; j++)
            {
                if (mask[r, j] != 0) seenReal = true;
                else if (seenReal)
                    throw new ArgumentException($"attention_mask row {r} is not left-padded (padding at column {j} after real tokens); generation needs left padding");
            }
            if (!seenReal) throw new ArgumentException($"attention_mask row {r} has no real token");
        }
    }
}
