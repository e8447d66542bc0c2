// Byte trie over vocabulary pieces for common-prefix search (Unigram Viterbi, SentencePiece user-defined symbols,
// longest-match added tokens). Transitions live in one open-addressing table keyed by (node, byte); the root's 256
// transitions are a direct array. Walking one byte is one probe, so a Viterbi step costs O(longest match).
using System.Runtime.CompilerServices;

namespace BatchVlm.Tokenizers.Core;

internal sealed class ByteTrie
{
    private readonly int[] _root = new int[256];      // child node of the root per byte, 0 = none
    private ulong[] _keys;                             // (node << 8 | byte) + 1; 0 = empty
    private int[] _children;
    private int[] _values = new int[64];               // per node: value or -1
    private int _nodeCount = 1;                        // node 0 = root
    private int _used;

    public ByteTrie(int expectedNodes = 1024)
    {
        int size = 64;
        while (size < expectedNodes * 2) size <<= 1;
        _keys = new ulong[size];
        _children = new int[size];
        _values[0] = -1;
    }

    public int NodeCount => _nodeCount;

    public void Add(ReadOnlySpan<byte> key, int value)
    {
        if (key.IsEmpty) return;
        int node = 0;
        foreach (byte b in key)
        {
            int child = Next(node, b);
            if (child < 0) child = AddChild(node, b);
            node = child;
        }
        _values[node] = value;
    }

    /// <summary>Value stored at exactly <paramref name="key"/>, or -1.</summary>
    public int Get(ReadOnlySpan<byte> key)
    {
        int node = 0;
        foreach (byte b in key)
        {
            node = Next(node, b);
            if (node < 0) return -1;
        }
        return _values[node];
    }

    /// <summary>Child of <paramref name="node"/> on byte <paramref name="b"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Next(int node, byte b)
    {
        if (node == 0)
        {
            int r = _root[b];
            return r == 0 ? -1 : r;
        }
        ulong key = ((ulong)(uint)node << 8 | b) + 1;
        int mask = _keys.Length - 1;
        int i = (int)(Mix(key) & (uint)mask);
        while (true)
        {
            ulong k = _keys[i];
            if (k == key) return _children[i];
            if (k == 0) return -1;
            i = (i + 1) & mask;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int ValueAt(int node) => _values[node];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Mix(ulong k)
    {
        k ^= k >> 29; k *= 0xbf58476d1ce4e5b9UL; k ^= k >> 32;
        return (uint)k;
    }

    private int AddChild(int node, byte b)
    {
        int child = _nodeCount++;
        if (child == _values.Length) Array.Resize(ref _values, child * 2);
        _values[child] = -1;
        if (node == 0) { _root[b] = child; return child; }
        if ((_used + 1) * 2 > _keys.Length) Rehash();
        Insert(((ulong)(uint)node << 8 | b) + 1, child);
        _used++;
        return child;
    }

    private void Insert(ulong key, int child)
    {
        int mask = _keys.Length - 1;
        int i = (int)(Mix(key) & (uint)mask);
        while (_keys[i] != 0) i = (i + 1) & mask;
        _keys[i] = key;
        _children[i] = child;
    }

    private void Rehash()
    {
        var keys = _keys; var children = _children;
        _keys = new ulong[keys.Length * 2];
        _children = new int[keys.Length * 2];
        for (int i = 0; i < keys.Length; i++)
            if (keys[i] != 0) Insert(keys[i], children[i]);
    }
}
