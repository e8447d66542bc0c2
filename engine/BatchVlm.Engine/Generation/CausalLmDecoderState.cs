// The decoder state of a decoder-only language model between generation steps (Gemma, PaliGemma's Gemma, OPT): the KV cache, each row's key padding
// mask (1 real, 0 pad; left padding stays masked for every later step, as HF's growing attention_mask does) and each
// row's next RoPE/position id (HF generate(): the last column of cumsum(mask) - 1, advanced by one per step).
namespace BatchVlm.Engine.Generation;

public class CausalLmDecoderState : IDecoderState
{
    private List<long>[] _keyMask;   // per row, one 0/1 entry per cached position (L)
    private long[] _nextPosition;    // per row
    private bool[] _hasPadding;      // per row: does _keyMask hold a 0? (padding is only ever in the prompt)

    /// <param name="attentionMask">(B, T) prompt mask, nonzero = real token</param>
    /// <param name="nextPosition">(B) position id of each row's first generated token</param>
    public CausalLmDecoderState(KvCache cache, long[,] attentionMask, long[] nextPosition)
    {
        ArgumentNullException.ThrowIfNull(cache);
        int b = attentionMask.GetLength(0), t = attentionMask.GetLength(1);
        if (nextPosition.Length != b)
            throw new ArgumentException($"decoder state: {nextPosition.Length} next positions for an attention mask of {b} rows");
        if (cache.BatchSize != b)
            throw new ArgumentException($"decoder state: the KV cache holds {cache.BatchSize} rows, the attention mask {b}");
        Cache = cache;
        _keyMask = new List<long>[b];
        _hasPadding = new bool[b];
        for (int r = 0; r < b; r++)
        {
            _keyMask[r] = new List<long>(cache.Capacity);
            for (int j = 0; j < t; j++) _keyMask[r].Add(attentionMask[r, j] != 0 ? 1 : 0);
            _hasPadding[r] = _keyMask[r].Contains(0);
        }
        _nextPosition = nextPosition;
    }

    /// <summary>The state after a prompt whose last column holds each row's last position id: generation continues at +1.</summary>
    public static CausalLmDecoderState AfterPrompt(KvCache cache, long[,] attentionMask, long[,] positions)
    {
        int b = positions.GetLength(0), t = positions.GetLength(1);
        var next = new long[b];
        for (int r = 0; r < b; r++) next[r] = positions[r, t - 1] + 1;
        return new CausalLmDecoderState(cache, attentionMask, next);
    }

    /// <summary><paramref name="state"/> as the CausalLmDecoderState <paramref name="model"/>'s Prefill returned.</summary>
    public static CausalLmDecoderState Of(IDecoderState state, string model) => state as CausalLmDecoderState
        ?? throw new ArgumentException($"{model}.DecodeStep needs the CausalLmDecoderState its Prefill returned, got {state?.GetType().Name ?? "null"}");

    public KvCache Cache { get; }
    public int BatchSize => _keyMask.Length;

    public void SelectRows(ReadOnlySpan<int> sourceRows)
    {
        Cache.SelectRows(sourceRows);
        var masks = new List<long>[sourceRows.Length];
        var pos = new long[sourceRows.Length];
        var padded = new bool[sourceRows.Length];
        for (int i = 0; i < sourceRows.Length; i++)
        {
            masks[i] = new List<long>(_keyMask[sourceRows[i]]);
            pos[i] = _nextPosition[sourceRows[i]];
            padded[i] = _hasPadding[sourceRows[i]];
        }
        _keyMask = masks;
        _nextPosition = pos;
        _hasPadding = padded;
    }

    /// <summary>Forgets the positions from <paramref name="length"/> on (cache, masks and positions), so the same steps
    /// can be replayed from a cached prompt (tests, benchmarks).</summary>
    public void Rewind(int length)
    {
        int drop = Cache.Length - length;
        Cache.Truncate(length);
        for (int r = 0; r < BatchSize; r++)
        {
            _keyMask[r].RemoveRange(length, drop);
            _nextPosition[r] -= drop;
            _hasPadding[r] = _keyMask[r].Contains(0);
        }
    }

    /// <summary>Adds one real token per row (checked first: one per row, inside [0, <paramref name="vocabSize"/>)) and
    /// returns what the model's decode step feeds its decoder: the ids (B, 1), their positions (B, 1) and the key padding
    /// (B, L) flattened, or null when no row has padding.</summary>
    public (long[,] Ids, long[,] Positions, long[]? KeyPadding) Advance(ReadOnlySpan<int> tokens, int vocabSize)
    {
        int b = BatchSize;
        if (tokens.Length != b)
            throw new ArgumentException($"decode step: expected one token per decoder-state row ({b}), got {tokens.Length}");
        var ids = new long[b, 1];
        for (int r = 0; r < b; r++)
        {
            if ((uint)tokens[r] >= (uint)vocabSize)
                throw new ArgumentException($"decode step: token {tokens[r]} of row {r} is outside the vocabulary [0, {vocabSize})");
            ids[r, 0] = tokens[r];
        }
        var positions = new long[b, 1];
        bool anyPad = false;
        for (int r = 0; r < b; r++)
        {
            positions[r, 0] = _nextPosition[r]++;
            _keyMask[r].Add(1);
            anyPad |= _hasPadding[r];
        }
        if (!anyPad) return (ids, positions, null);
        int l = _keyMask[0].Count;
        var pad = new long[b * l];
        for (int r = 0; r < b; r++) _keyMask[r].CopyTo(pad, r * l);
        return (ids, positions, pad);
    }

    public void Dispose() => Cache.Dispose();
}
