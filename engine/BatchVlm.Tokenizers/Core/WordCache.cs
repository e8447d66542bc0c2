// Per-tokenizer cache from a pre-tokenized word (UTF-8 bytes) to its ids, for BPE where the same words repeat.
// Bounded: cleared when full, so memory stays flat on endless input. Thread-safe by a lock (uncontended in the
// one-thread-per-tokenizer use; the lock is cheap next to a BPE merge loop).
namespace BatchVlm.Tokenizers.Core;

internal sealed class WordCache
{
    public const int MaxWordBytes = 64;
    private const int MaxEntries = 200_000;
    private readonly ByteSpanMap _map = new(4096);
    private int[] _ids = new int[16384];
    private int _used;
    private readonly object _lock = new();

    // Entry value = offset << 8 | count (count ≤ 255, else not cached).
    /// <summary>Copies the cached ids of <paramref name="word"/> into <paramref name="dest"/> (≥ 255 long).</summary>
    public bool TryGet(ReadOnlySpan<byte> word, Span<int> dest, out int count)
    {
        lock (_lock)
        {
            if (_map.TryGetValue(word, out int v))
            {
                count = v & 0xFF;
                _ids.AsSpan(v >> 8, count).CopyTo(dest);
                return true;
            }
        }
        count = 0;
        return false;
    }

    public void Add(ReadOnlySpan<byte> word, ReadOnlySpan<int> ids)
    {
        if (ids.Length > 255) return;
        lock (_lock)
        {
            if (_map.Count >= MaxEntries || _used + ids.Length >= (1 << 23)) { _map.Clear(); _used = 0; }
            if (_used + ids.Length > _ids.Length) Array.Resize(ref _ids, Math.Max(_ids.Length * 2, _used + ids.Length));
            ids.CopyTo(_ids.AsSpan(_used));
            _map.Set(word, _used << 8 | ids.Length);
            _used += ids.Length;
        }
    }
}
