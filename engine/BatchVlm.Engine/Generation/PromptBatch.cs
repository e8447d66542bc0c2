// Prompt batches for generation, shared by every decoder (Gemma, PaliGemma, OPT, T5, BLIP-2): left padding into
// (B, T) ids and mask, the position ids HF's generate() derives from the mask, and the checks batched decoding needs.
// Model-independent, so they live beside the Generator rather than in one model's file.
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
