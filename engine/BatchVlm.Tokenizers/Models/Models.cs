// tokenizer.json models (Hugging Face tokenizers 0.20, src/models/{bpe,wordpiece,unigram}): BPE (merges by rank with
// a priority queue over a linked list of symbols, as bpe/word.rs merge_all; byte_fallback, fuse_unk, ignore_merges,
// continuing_subword_prefix, end_of_word_suffix as CLIP uses it), WordPiece (greedy longest match, as
// transformers' WordpieceTokenizer), Unigram (sentencepiece's Viterbi, see SentencePieceProcessor).
using System.Text;
using BatchVlm.Tokenizers.SentencePiece;

namespace BatchVlm.Tokenizers.Models;

internal interface IModel
{
    /// <summary>Appends the ids of one pre-tokenized piece.</summary>
    void Tokenize(string piece, List<int> ids);
    string? IdToToken(int id);
    int? TokenToId(string token);
    int VocabSize { get; }
}

/// <summary>The id → token table of a token → id vocabulary.</summary>
internal static class Vocabulary
{
    /// <summary>
    /// Largest gap allowed between the vocabulary size and its highest id. Real vocabularies are dense or nearly so
    /// (added tokens fill the gaps); a lone huge id in a damaged file would otherwise size an array of billions.
    /// </summary>
    public const int MaxIdGap = 1 << 20;

    /// <summary>Token by id (null where no token has that id). Ids are non-negative and bounded by ReadVocabObject.</summary>
    public static string[] ByIds(Dictionary<string, int> vocab)
    {
        var byId = new string[vocab.Count == 0 ? 0 : vocab.Values.Max() + 1];
        foreach (var (t, id) in vocab) byId[id] = t;
        return byId;
    }
}

internal sealed class BpeModel : IModel
{
    private readonly Dictionary<string, int> _vocab;
    private readonly string[] _idToToken;
    private readonly Dictionary<long, (int Rank, int NewId)> _merges;
    private readonly int? _unkId;
    private readonly string _prefix, _suffix;
    private readonly bool _fuseUnk, _byteFallback, _ignoreMerges;
    private readonly int[]? _byteIds;
    private readonly Dictionary<string, int[]> _cache = new();
    private readonly object _cacheLock = new();
    private const int CacheCapacity = 100_000;

    public BpeModel(Dictionary<string, int> vocab, List<(string A, string B)> merges, string? unkToken, string? prefix,
        string? suffix, bool fuseUnk, bool byteFallback, bool ignoreMerges, string source, string mergesPath)
    {
        _vocab = vocab;
        _idToToken = Vocabulary.ByIds(vocab);
        _prefix = prefix ?? ""; _suffix = suffix ?? "";
        _fuseUnk = fuseUnk; _byteFallback = byteFallback; _ignoreMerges = ignoreMerges;
        if (unkToken != null)
        {
            if (!vocab.TryGetValue(unkToken, out int u))
                throw new TokenizerFormatException(source, "$.model.unk_token", $"unk token '{unkToken}' is not in the vocabulary");
            _unkId = u;
        }
        _merges = new Dictionary<long, (int, int)>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (a, b) = merges[rank];
            if (!vocab.TryGetValue(a, out int ia))
                throw new TokenizerFormatException(source, $"{mergesPath}[{rank}]", $"merge part '{a}' is not in the vocabulary");
            if (!vocab.TryGetValue(b, out int ib))
                throw new TokenizerFormatException(source, $"{mergesPath}[{rank}]", $"merge part '{b}' is not in the vocabulary");
            string merged = a + (b.StartsWith(_prefix, StringComparison.Ordinal) ? b[_prefix.Length..] : b);
            if (!vocab.TryGetValue(merged, out int nid))
                throw new TokenizerFormatException(source, $"{mergesPath}[{rank}]", $"merged token '{merged}' is not in the vocabulary");
            _merges.TryAdd((long)ia << 32 | (uint)ib, (rank, nid));
        }
        if (byteFallback)
        {
            _byteIds = new int[256];
            for (int b = 0; b < 256; b++) _byteIds[b] = vocab.TryGetValue($"<0x{b:X2}>", out int id) ? id : -1;
        }
    }

    public int VocabSize => _vocab.Count;
    public string? IdToToken(int id) => id >= 0 && id < _idToToken.Length ? _idToToken[id] : null;
    public int? TokenToId(string token) => _vocab.TryGetValue(token, out int id) ? id : null;

    public void Tokenize(string piece, List<int> ids)
    {
        if (piece.Length == 0) return;
        if (_ignoreMerges && _vocab.TryGetValue(piece, out int whole)) { ids.Add(whole); return; }
        int[]? cached;
        lock (_cacheLock) _cache.TryGetValue(piece, out cached);
        if (cached != null) { ids.AddRange(cached); return; }
        int before = ids.Count;
        TokenizeUncached(piece, ids);
        if (piece.Length < 256)
        {
            var result = ids.GetRange(before, ids.Count - before).ToArray();
            lock (_cacheLock)
            {
                if (_cache.Count >= CacheCapacity) _cache.Clear();
                _cache[piece] = result;
            }
        }
    }

    private struct Sym { public int Id, Prev, Next, Len; }

    private void TokenizeUncached(string word, List<int> ids)
    {
        // Initial symbols: one per character (code point), prefix on all but the first, suffix on the last.
        var syms = new List<Sym>(word.Length);
        var span = word.AsSpan();
        int? pendingUnk = null;
        for (int i = 0; i < span.Length;)
        {
            int len = char.IsHighSurrogate(span[i]) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]) ? 2 : 1;
            string s = span.Slice(i, len).ToString();
            bool last = i + len == span.Length;
            if (i > 0) s = _prefix + s;
            if (last) s += _suffix;
            if (_vocab.TryGetValue(s, out int id))
            {
                if (pendingUnk is int u) { syms.Add(new Sym { Id = u, Len = 1 }); pendingUnk = null; }
                syms.Add(new Sym { Id = id, Len = len });
            }
            else if (_byteFallback && _byteIds != null && AllBytesKnown(span.Slice(i, len), out var byteIds))
            {
                if (pendingUnk is int u) { syms.Add(new Sym { Id = u, Len = 1 }); pendingUnk = null; }
                foreach (int b in byteIds) syms.Add(new Sym { Id = b, Len = 1 });
            }
            else if (_unkId is int unk)
            {
                if (_fuseUnk) { pendingUnk = unk; }
                else syms.Add(new Sym { Id = unk, Len = len });
            }
            i += len;
        }
        if (pendingUnk is int pu) syms.Add(new Sym { Id = pu, Len = 1 });
        for (int i = 0; i < syms.Count; i++)
        {
            var s = syms[i]; s.Prev = i - 1; s.Next = i + 1 < syms.Count ? i + 1 : -1; syms[i] = s;
        }

        var queue = new PriorityQueue<(int Pos, int NewId), (int Rank, int Pos)>();
        for (int i = 0; i + 1 < syms.Count; i++)
            if (_merges.TryGetValue((long)syms[i].Id << 32 | (uint)syms[i + 1].Id, out var m)) queue.Enqueue((i, m.NewId), (m.Rank, i));
        while (queue.TryDequeue(out var top, out _))
        {
            var cur = syms[top.Pos];
            if (cur.Len == 0 || cur.Next == -1) continue;
            var right = syms[cur.Next];
            if (!_merges.TryGetValue((long)cur.Id << 32 | (uint)right.Id, out var m) || m.NewId != top.NewId) continue;
            int rightPos = cur.Next;
            cur.Id = top.NewId; cur.Len += right.Len; cur.Next = right.Next;
            syms[top.Pos] = cur;
            right.Len = 0; syms[rightPos] = right;
            if (cur.Next >= 0) { var n = syms[cur.Next]; n.Prev = top.Pos; syms[cur.Next] = n; }
            if (cur.Prev >= 0 && _merges.TryGetValue((long)syms[cur.Prev].Id << 32 | (uint)cur.Id, out var mp))
                queue.Enqueue((cur.Prev, mp.NewId), (mp.Rank, cur.Prev));
            if (cur.Next >= 0 && _merges.TryGetValue((long)cur.Id << 32 | (uint)syms[cur.Next].Id, out var mn))
                queue.Enqueue((top.Pos, mn.NewId), (mn.Rank, top.Pos));
        }
        foreach (var s in syms) if (s.Len > 0) ids.Add(s.Id);
    }

    private bool AllBytesKnown(ReadOnlySpan<char> ch, out int[] byteIds)
    {
        var bytes = Encoding.UTF8.GetBytes(ch.ToArray());
        byteIds = new int[bytes.Length];
        for (int k = 0; k < bytes.Length; k++)
        {
            byteIds[k] = _byteIds![bytes[k]];
            if (byteIds[k] < 0) return false;
        }
        return true;
    }
}

internal sealed class WordPieceModel : IModel
{
    private readonly Dictionary<string, int> _vocab;
    private readonly string[] _idToToken;
    private readonly int _unkId;
    private readonly string _prefix;
    private readonly int _maxChars;

    public WordPieceModel(Dictionary<string, int> vocab, string unkToken, string prefix, int maxChars, string source)
    {
        _vocab = vocab;
        _idToToken = Vocabulary.ByIds(vocab);
        if (!vocab.TryGetValue(unkToken, out _unkId))
            throw new TokenizerFormatException(source, "$.model.unk_token", $"unk token '{unkToken}' is not in the vocabulary");
        _prefix = prefix; _maxChars = maxChars;
    }

    public int VocabSize => _vocab.Count;
    public string? IdToToken(int id) => id >= 0 && id < _idToToken.Length ? _idToToken[id] : null;
    public int? TokenToId(string token) => _vocab.TryGetValue(token, out int id) ? id : null;

    public void Tokenize(string word, List<int> ids)
    {
        if (word.Length == 0) return;
        // Character boundaries in code points (Python len(list(token))).
        var bounds = new List<int> { 0 };
        for (int i = 0; i < word.Length;)
        {
            i += char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            bounds.Add(i);
        }
        int nChars = bounds.Count - 1;
        if (nChars > _maxChars) { ids.Add(_unkId); return; }
        int before = ids.Count;
        int start = 0;
        while (start < nChars)
        {
            int end = nChars;
            int found = -1;
            while (start < end)
            {
                string sub = word[bounds[start]..bounds[end]];
                if (start > 0) sub = _prefix + sub;
                if (_vocab.TryGetValue(sub, out int id)) { found = id; break; }
                end--;
            }
            if (found < 0)
            {
                ids.RemoveRange(before, ids.Count - before);
                ids.Add(_unkId);
                return;
            }
            ids.Add(found);
            start = end;
        }
    }
}

/// <summary>Unigram from tokenizer.json, run by the SentencePiece Viterbi (float arithmetic as sentencepiece).</summary>
internal sealed class UnigramModel : IModel
{
    private readonly SentencePieceProcessor _sp;
    private readonly Dictionary<string, int> _vocab;

    public UnigramModel(List<(string Piece, float Score)> vocab, int unkId, bool byteFallback, string source)
    {
        var proto = new SentencePieceModelProto
        {
            ModelType = SentencePieceModelType.Unigram, ByteFallback = byteFallback, UnkId = unkId,
            AddDummyPrefix = false, RemoveExtraWhitespaces = false, EscapeWhitespaces = false,
        };
        _vocab = new Dictionary<string, int>(vocab.Count);
        for (int i = 0; i < vocab.Count; i++)
        {
            var (piece, score) = vocab[i];
            bool isByte = byteFallback && piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>';
            var type = i == unkId ? PieceType.Unknown : isByte ? PieceType.Byte : PieceType.Normal;
            proto.Pieces.Add(new SentencePiecePiece(piece, score, type));
            if (!_vocab.TryAdd(piece, i))
                throw new TokenizerFormatException(source, $"$.model.vocab[{i}]", $"duplicate piece '{piece}'");
        }
        if (unkId < 0 || unkId >= vocab.Count)
            throw new TokenizerFormatException(source, "$.model.unk_id", $"unk_id {unkId} is outside the vocabulary (size {vocab.Count})");
        _sp = new SentencePieceProcessor(proto, source);
    }

    public int VocabSize => _vocab.Count;
    public string? IdToToken(int id) => id >= 0 && id < _sp.PieceCount ? _sp.PieceOf(id) : null;
    public int? TokenToId(string token) => _vocab.TryGetValue(token, out int id) ? id : null;

    public void Tokenize(string piece, List<int> ids)
    {
        if (piece.Length == 0) return;
        _sp.EncodeNormalized(Encoding.UTF8.GetBytes(piece), ids);
    }
}
