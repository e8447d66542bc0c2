// Vocabulary lookup keyed by UTF-8 byte spans, without allocating a string per lookup. Open addressing over one
// byte arena; the encoders look up slices of the normalized input directly (BPE merges, WordPiece, byte-level).
using System.Runtime.CompilerServices;

namespace BatchVlm.Tokenizers.Core;

internal sealed class ByteSpanMap
{
    private byte[] _arena = new byte[1024];
    private int _arenaUsed;
    private int[] _slots;            // index into the entry arrays + 1; 0 = empty
    private int[] _keyStart = new int[16];
    private int[] _keyLength = new int[16];
    private int[] _value = new int[16];
    private uint[] _hash = new uint[16];
    private int _count;

    public ByteSpanMap(int capacity = 16)
    {
        int size = 16;
        while (size < capacity * 2) size <<= 1;
        _slots = new int[size];
    }

    public int Count => _count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Hash(ReadOnlySpan<byte> key)
    {
        // FNV-1a, 32-bit: short keys, good enough spread for vocabularies.
        uint h = 2166136261;
        foreach (byte b in key) h = (h ^ b) * 16777619;
        return h;
    }

    public bool TryGetValue(ReadOnlySpan<byte> key, out int value)
    {
        uint h = Hash(key);
        int mask = _slots.Length - 1;
        int i = (int)h & mask;
        while (true)
        {
            int e = _slots[i];
            if (e == 0) { value = -1; return false; }
            e--;
            if (_hash[e] == h && _keyLength[e] == key.Length && key.SequenceEqual(_arena.AsSpan(_keyStart[e], _keyLength[e])))
            {
                value = _value[e];
                return true;
            }
            i = (i + 1) & mask;
        }
    }

    /// <summary>Adds or replaces; returns false when the key was already present (value replaced).</summary>
    public bool Set(ReadOnlySpan<byte> key, int value)
    {
        uint h = Hash(key);
        int mask = _slots.Length - 1;
        int i = (int)h & mask;
        while (true)
        {
            int e = _slots[i];
            if (e == 0) break;
            e--;
            if (_hash[e] == h && _keyLength[e] == key.Length && key.SequenceEqual(_arena.AsSpan(_keyStart[e], _keyLength[e])))
            {
                _value[e] = value;
                return false;
            }
            i = (i + 1) & mask;
        }
        if (_count == _keyStart.Length)
        {
            int n = _count * 2;
            Array.Resize(ref _keyStart, n); Array.Resize(ref _keyLength, n);
            Array.Resize(ref _value, n); Array.Resize(ref _hash, n);
        }
        if (_arenaUsed + key.Length > _arena.Length)
            Array.Resize(ref _arena, Math.Max(_arena.Length * 2, _arenaUsed + key.Length));
        key.CopyTo(_arena.AsSpan(_arenaUsed));
        _keyStart[_count] = _arenaUsed; _keyLength[_count] = key.Length; _value[_count] = value; _hash[_count] = h;
        _arenaUsed += key.Length;
        _slots[i] = ++_count;
        if (_count * 2 > _slots.Length) Grow();
        return true;
    }

    private void Grow()
    {
        var slots = new int[_slots.Length * 2];
        int mask = slots.Length - 1;
        for (int e = 0; e < _count; e++)
        {
            int i = (int)_hash[e] & mask;
            while (slots[i] != 0) i = (i + 1) & mask;
            slots[i] = e + 1;
        }
        _slots = slots;
    }

    public void Clear()
    {
        Array.Clear(_slots);
        _count = 0;
        _arenaUsed = 0;
    }
}
