// Double-array trie over UTF-8 pieces (the structure sentencepiece keeps its vocabulary in, via darts-clone), built
// with darts' original placement heuristic. A child of slot s on byte c lives at base[s] + c and is valid when
// check[child] == s, so walking one byte is two array reads with no hashing; children of a node sit together, which
// keeps a Viterbi step's reads in a few cache lines. Used for Unigram common-prefix search.
namespace BatchVlm.Tokenizers.Core;

internal sealed class DoubleArrayTrie
{
    private int[] _base;
    private int[] _check;
    private int[] _value;

    public DoubleArrayTrie(IReadOnlyList<(byte[] Key, int Value)> entries)
    {
        var keys = entries.Where(e => e.Key.Length > 0).OrderBy(e => e.Key, ByteArrayComparer.Instance).ToList();
        int cap = Math.Max(1024, keys.Sum(k => k.Key.Length) / 2 + 512);
        _base = new int[cap]; _check = new int[cap]; _value = new int[cap];
        Array.Fill(_check, -1); Array.Fill(_value, -1);
        _check[0] = 0;
        _used = new bool[cap];
        Build(keys, 0, keys.Count, 0, 0);
        // Trim to the last used slot + 256 so base + c never reads out of range.
        int last = 0;
        for (int i = _check.Length - 1; i >= 0; i--) if (_check[i] != -1) { last = i; break; }
        int size = last + 257;
        Resize(size);
        _used = null;
    }

    private bool[]? _used;
    private int _nextCheckPos;

    public int[] Base => _base;
    public int[] Check => _check;
    public int[] Values => _value;
    public int Size => _base.Length;

    private void Resize(int n)
    {
        int old = _base.Length;
        Array.Resize(ref _base, n); Array.Resize(ref _check, n); Array.Resize(ref _value, n);
        if (_used != null) Array.Resize(ref _used, n);
        for (int i = old; i < n; i++) { _check[i] = -1; _value[i] = -1; }
    }

    private void Build(List<(byte[] Key, int Value)> keys, int lo, int hi, int depth, int slot)
    {
        // Keys lo..hi share the first `depth` bytes; a key of exactly that length is this node's value.
        int i = lo;
        if (i < hi && keys[i].Key.Length == depth) { _value[slot] = keys[i].Value; i++; }
        if (i >= hi) return;
        var children = new List<(byte C, int Lo, int Hi)>();
        while (i < hi)
        {
            byte c = keys[i].Key[depth];
            int j = i + 1;
            while (j < hi && keys[j].Key[depth] == c) j++;
            children.Add((c, i, j));
            i = j;
        }
        int b = FindBase(children);
        _base[slot] = b;
        foreach (var ch in children) _check[b + ch.C] = slot;
        foreach (var ch in children) Build(keys, ch.Lo, ch.Hi, depth + 1, b + ch.C);
    }

    private int FindBase(List<(byte C, int Lo, int Hi)> children)
    {
        int c0 = children[0].C, cmax = children[^1].C;
        int pos = Math.Max(c0 + 1, _nextCheckPos) - 1;
        int nonzero = 0;
        bool first = true;
        int b;
        while (true)
        {
            pos++;
            if (pos + 256 >= _base.Length) Resize(_base.Length * 2);
            if (_check[pos] != -1) { nonzero++; continue; }
            if (first) { _nextCheckPos = pos; first = false; }
            b = pos - c0;
            if (b + cmax + 1 >= _base.Length) Resize(_base.Length * 2);
            if (_used![b]) continue;
            bool ok = true;
            foreach (var ch in children)
                if (_check[b + ch.C] != -1) { ok = false; break; }
            if (ok) break;
        }
        if (1.0 * nonzero / (pos - _nextCheckPos + 1) >= 0.95) _nextCheckPos = pos;
        _used![b] = true;
        return b;
    }

    private sealed class ByteArrayComparer : IComparer<byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();
        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
