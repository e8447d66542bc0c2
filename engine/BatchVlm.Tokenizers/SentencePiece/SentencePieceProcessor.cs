// A SentencePiece processor (normalize → BPE or Unigram → ids, and ids → text) equivalent to sentencepiece 0.1.97's
// C++ library for the model types our checkpoints use. Follows, file by file:
//   normalizer.cc  Normalizer::Normalize / NormalizePrefix  (user-defined symbols first, then the longest charsmap
//                  rule, dummy prefix, whitespace collapsing, `▁` escaping)
//   bpe_model.cc   Model::Encode  (symbols = chars or user-defined pieces; merge the highest-scoring adjacent pair,
//                  ties to the leftmost; resegment UNUSED pieces)
//   unigram_model.cc Model::EncodeOptimized  (Viterbi over a trie; piece candidates are double sums compared
//                  against float best scores, unknown candidates are float: reproduced exactly so that exact ties
//                  break the way sentencepiece breaks them)
//   sentencepiece_processor.cc  byte fallback, merging of consecutive unknown pieces, Decode (byte-piece
//                  reassembly with U+FFFD for invalid UTF-8, the dummy-prefix `▁` dropped at the start).
// All work is on UTF-8 bytes in reusable per-thread buffers: no allocation per token.
using System.Runtime.CompilerServices;
using System.Text;
using BatchVlm.Tokenizers.Core;

namespace BatchVlm.Tokenizers.SentencePiece;

internal sealed class SentencePieceProcessor
{
    private const float UnkPenalty = 10.0f;
    private static ReadOnlySpan<byte> SpaceSymbol => "\u2581"u8;

    private readonly SentencePieceModelProto _proto;
    private readonly byte[][] _pieceBytes;
    private readonly float[] _scores;
    private readonly PieceType[] _types;
    private readonly ByteSpanMap _pieces;          // NORMAL, USER_DEFINED, UNUSED (sentencepiece's pieces_)
    private readonly ByteSpanMap _reserved;        // CONTROL, UNKNOWN, BYTE (reserved_id_map_)
    private readonly ByteTrie _userDefined;        // prefix matcher for USER_DEFINED pieces
    private readonly bool _hasUserDefined;
    private readonly DoubleArrayTrie? _unigramTrie;
    private readonly PrecompiledCharsMap? _charsMap;
    private readonly int[] _byteToId = new int[256];
    private readonly float _minScore, _maxScore;
    private readonly int _maxPieceBytes;
    private readonly bool[] _asciiPlain = new bool[128]; // ASCII byte with no charsmap rule and no user-defined piece starting with it
    private readonly bool _wordCacheSafe;
    private readonly WordCache? _bpeCache;

    public SentencePieceProcessor(SentencePieceModelProto proto, string source)
    {
        _proto = proto;
        int n = proto.Pieces.Count;
        _pieceBytes = new byte[n][];
        _scores = new float[n];
        _types = new PieceType[n];
        _pieces = new ByteSpanMap(n);
        _reserved = new ByteSpanMap(64);
        _userDefined = new ByteTrie(64);
        Array.Fill(_byteToId, -1);
        _minScore = float.MaxValue;
        _maxScore = float.Epsilon * (1 << 23); // FLT_MIN, sentencepiece's initial max_score_
        for (int i = 0; i < n; i++)
        {
            var p = proto.Pieces[i];
            var bytes = Encoding.UTF8.GetBytes(p.Piece);
            _pieceBytes[i] = bytes;
            _maxPieceBytes = Math.Max(_maxPieceBytes, bytes.Length);
            _scores[i] = p.Score;
            _types[i] = p.Type;
            if (p.Type is PieceType.Normal or PieceType.UserDefined or PieceType.Unused)
            {
                if (bytes.Length == 0)
                    throw new TokenizerFormatException(source, $"ModelProto.pieces[{i}].piece", "empty piece");
                if (!_pieces.Set(bytes, i))
                    throw new TokenizerFormatException(source, $"ModelProto.pieces[{i}].piece", $"duplicate piece '{p.Piece}'");
            }
            else _reserved.Set(bytes, i);
            if (p.Type == PieceType.UserDefined) { _userDefined.Add(bytes, i); _hasUserDefined = true; }
            if (p.Type == PieceType.Normal)
            {
                _minScore = Math.Min(_minScore, p.Score);
                _maxScore = Math.Max(_maxScore, p.Score);
            }
            if (p.Type == PieceType.Byte)
            {
                // "<0xAB>"
                if (p.Piece.Length != 6 || !p.Piece.StartsWith("<0x", StringComparison.Ordinal) || p.Piece[5] != '>' ||
                    !byte.TryParse(p.Piece.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b))
                    throw new TokenizerFormatException(source, $"ModelProto.pieces[{i}].piece", $"BYTE piece '{p.Piece}' is not of the form <0xXX>");
                _byteToId[b] = i;
            }
        }
        if (proto.ByteFallback && Array.IndexOf(_byteToId, -1) >= 0)
            throw new TokenizerFormatException(source, "ModelProto.pieces", "byte_fallback is set but not all 256 <0xXX> pieces exist");
        if (proto.PrecompiledCharsMap.Length > 0)
            _charsMap = new PrecompiledCharsMap(proto.PrecompiledCharsMap, source, "ModelProto.normalizer_spec.precompiled_charsmap");
        for (int b = 0; b < 128; b++)
        {
            byte[] one = [(byte)b];
            bool plain = _userDefined.Next(0, (byte)b) < 0;
            if (plain && _charsMap != null) plain = !_charsMap.HasRuleStartingWith((byte)b);
            _asciiPlain[b] = plain && b != 0;
        }
        if (proto.ModelType == SentencePieceModelType.Unigram)
        {
            var entries = new List<(byte[], int)>(n);
            for (int i = 0; i < n; i++)
                if (_types[i] is PieceType.Normal or PieceType.UserDefined or PieceType.Unused)
                    entries.Add((_pieceBytes[i], i));
            _unigramTrie = new DoubleArrayTrie(entries);
        }
        else if (proto.ModelType != SentencePieceModelType.Bpe)
            throw new TokenizerFormatException(source, "ModelProto.trainer_spec.model_type", $"model type {proto.ModelType} is not supported (only UNIGRAM and BPE)");

        // BPE words are independent when no piece can span the start of a `▁`-word (a `▁` preceded by another
        // character): then a per-word cache gives exactly the same ids as encoding the whole text.
        _wordCacheSafe = proto.ModelType == SentencePieceModelType.Bpe && !proto.TreatWhitespaceAsSuffix && proto.EscapeWhitespaces;
        if (_wordCacheSafe)
        {
            for (int i = 0; i < n && _wordCacheSafe; i++)
            {
                var b = _pieceBytes[i].AsSpan();
                for (int k = 1; k + 3 <= b.Length; k++)
                    if (b.Slice(k, 3).SequenceEqual(SpaceSymbol) && !b.Slice(k - 3 >= 0 ? k - 3 : 0, Math.Min(3, k)).SequenceEqual(SpaceSymbol))
                    {
                        _wordCacheSafe = false;
                        break;
                    }
            }
        }
        if (_wordCacheSafe) _bpeCache = new WordCache();
    }

    /// <summary>
    /// Test switch: run the plain reference algorithms (no ASCII normalization fast path, no BPE word cache, Unigram
    /// prefixes looked up one by one instead of walking the double-array trie). Ids must not change.
    /// </summary>
    internal bool ReferenceMode { get; set; }

    public SentencePieceModelProto Proto => _proto;
    public int PieceCount => _pieceBytes.Length;
    public int UnkId => _proto.UnkId;
    public bool ByteFallback => _proto.ByteFallback;
    public bool AddDummyPrefix => _proto.AddDummyPrefix;
    public PieceType TypeOf(int id) => _types[id];
    public string PieceOf(int id) => _proto.Pieces[id].Piece;
    public float ScoreOf(int id) => _scores[id];

    /// <summary>sentencepiece's PieceToId: normal pieces, then reserved ones, else unk.</summary>
    public int PieceToId(ReadOnlySpan<byte> piece)
    {
        if (_pieces.TryGetValue(piece, out int id)) return id;
        if (_reserved.TryGetValue(piece, out id)) return id;
        return _proto.UnkId;
    }

    public int PieceToId(string piece) => PieceToId(Encoding.UTF8.GetBytes(piece));

    // ---------------------------------------------------------------- normalization

    /// <summary>Normalizes UTF-8 <paramref name="input"/> into <paramref name="output"/> (sentencepiece Normalize).</summary>
    public void Normalize(ReadOnlySpan<byte> input, ref byte[] output, out int length)
    {
        int cap = input.Length * 3 + 16;
        if (output.Length < cap) output = new byte[Math.Max(cap, output.Length * 2)];
        var o = output;
        int w = 0;
        bool removeExtra = _proto.RemoveExtraWhitespaces;
        bool escape = _proto.EscapeWhitespaces;
        bool suffix = _proto.TreatWhitespaceAsSuffix;

        if (removeExtra)
        {
            while (!input.IsEmpty)
            {
                int consumed = NormalizePrefix(input, out var rep);
                if (!(rep.Length == 1 && rep[0] == (byte)' ')) break;
                input = input[consumed..];
            }
        }
        if (input.IsEmpty) { length = 0; return; }

        if (!suffix && _proto.AddDummyPrefix) w = AppendSpace(o, w, escape);

        bool isPrevSpace = removeExtra;
        var plain = _asciiPlain;
        while (!input.IsEmpty)
        {
            byte first = input[0];
            if (first < 0x80 && plain[first] && !ReferenceMode)
            {
                // Fast path: an ASCII character no rule touches.
                if (first == (byte)' ')
                {
                    if (!isPrevSpace)
                    {
                        if (w + 3 > o.Length) { Array.Resize(ref output, Math.Max(output.Length * 2, w + 16)); o = output; }
                        w = AppendSpace(o, w, escape);
                    }
                    isPrevSpace = removeExtra;
                }
                else
                {
                    if (w + 1 > o.Length) { Array.Resize(ref output, Math.Max(output.Length * 2, w + 16)); o = output; }
                    o[w++] = first;
                    isPrevSpace = false;
                }
                input = input[1..];
                continue;
            }
            int consumed = NormalizePrefix(input, out var sp);
            if (isPrevSpace) while (!sp.IsEmpty && sp[0] == (byte)' ') sp = sp[1..];
            if (!sp.IsEmpty)
            {
                if (w + sp.Length * 3 > o.Length) { Array.Resize(ref output, Math.Max(output.Length * 2, w + sp.Length * 3 + 16)); o = output; }
                foreach (byte c in sp)
                {
                    if (escape && c == (byte)' ') w = AppendSpace(o, w, true);
                    else o[w++] = c;
                }
                isPrevSpace = sp[^1] == (byte)' ';
            }
            input = input[consumed..];
            if (!removeExtra) isPrevSpace = false;
        }

        if (suffix && _proto.AddDummyPrefix)
        {
            if (w + 3 > o.Length) { Array.Resize(ref output, w + 16); o = output; }
            w = AppendSpace(o, w, escape);
        }
        if (removeExtra)
        {
            if (escape) while (w >= 3 && o.AsSpan(w - 3, 3).SequenceEqual(SpaceSymbol)) w -= 3;
            else while (w >= 1 && o[w - 1] == (byte)' ') w--;
        }
        length = w;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int AppendSpace(byte[] o, int w, bool escape)
    {
        if (escape) { o[w] = 0xE2; o[w + 1] = 0x96; o[w + 2] = 0x81; return w + 3; }
        o[w] = (byte)' ';
        return w + 1;
    }

    private static readonly byte[] ReplacementChar = "\uFFFD"u8.ToArray();

    /// <summary>Returns the number of input bytes consumed and the replacement (sentencepiece normalize_prefix).</summary>
    private int NormalizePrefix(ReadOnlySpan<byte> input, out ReadOnlySpan<byte> replacement)
    {
        if (_hasUserDefined)
        {
            int len = UserDefinedPrefix(input);
            if (len > 0) { replacement = input[..len]; return len; }
        }
        if (_charsMap != null)
        {
            int len = _charsMap.LongestMatch(input, out replacement);
            if (len > 0) return len;
        }
        int mb = Utf8.ValidCharLength(input);
        if (mb == 0) { replacement = ReplacementChar; return 1; }
        replacement = input[..mb];
        return mb;
    }

    /// <summary>Length of the longest USER_DEFINED piece at the start of <paramref name="input"/>, or 0.</summary>
    private int UserDefinedPrefix(ReadOnlySpan<byte> input)
    {
        int node = 0, best = 0;
        for (int i = 0; i < input.Length; i++)
        {
            node = _userDefined.Next(node, input[i]);
            if (node < 0) break;
            if (_userDefined.ValueAt(node) >= 0) best = i + 1;
        }
        return best;
    }

    // ---------------------------------------------------------------- encoding

    [ThreadStatic] private static Scratch? t_scratch;

    /// <summary>Encodes already-normalized UTF-8 text, appending ids (byte fallback and unk merging applied).</summary>
    public void EncodeNormalized(ReadOnlySpan<byte> normalized, List<int> ids)
    {
        if (normalized.IsEmpty) return;
        var s = t_scratch ??= new Scratch();
        if (_unigramTrie != null) EncodeUnigram(normalized, ids, s);
        else if (_bpeCache != null && !ReferenceMode) EncodeBpeByWords(normalized, ids, s);
        else EncodeBpe(normalized, ids, s);
    }

    /// <summary>Normalizes and encodes a .NET string (sentencepiece EncodeAsIds).</summary>
    public void Encode(ReadOnlySpan<char> text, List<int> ids)
    {
        var s = t_scratch ??= new Scratch();
        int max = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (max > Scratch.KeepLimit)
        {
            var input = Encoding.UTF8.GetBytes(text.ToArray());
            var normalized = Array.Empty<byte>();
            Normalize(input, ref normalized, out int blen);
            EncodeNormalized(normalized.AsSpan(0, blen), ids);
            return;
        }
        if (s.Input.Length < max) s.Input = new byte[Math.Max(max, s.Input.Length * 2)];
        int n = Encoding.UTF8.GetBytes(text, s.Input);
        Normalize(s.Input.AsSpan(0, n), ref s.Normalized, out int len);
        EncodeNormalized(s.Normalized.AsSpan(0, len), ids);
    }

    /// <summary>Emits one model result: byte fallback for unknown pieces, else the id (merging unknown runs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Emit(int id, ReadOnlySpan<byte> surface, List<int> ids, ref bool prevUnk)
    {
        if (id == _proto.UnkId)
        {
            if (_proto.ByteFallback)
            {
                foreach (byte b in surface) ids.Add(_byteToId[b]);
                prevUnk = false;
                return;
            }
            if (prevUnk) return; // sentencepiece merges a run of unknown pieces into one
            prevUnk = true;
            ids.Add(id);
            return;
        }
        prevUnk = false;
        ids.Add(id);
    }

    private void EncodeUnigram(ReadOnlySpan<byte> text, List<int> ids, Scratch s)
    {
        int size = text.Length;
        float[] best; int[] startsAt, bestId;
        if (size + 1 > Scratch.KeepLimit)
        {
            // A huge input gets its own arrays, so the per-thread scratch does not keep hundreds of MB alive.
            best = new float[size + 1]; startsAt = new int[size + 1]; bestId = new int[size + 1];
        }
        else
        {
            if (s.BestScore.Length < size + 1)
            {
                int cap = Math.Min(Scratch.KeepLimit, Math.Max(size + 1, s.BestScore.Length * 2));
                s.BestScore = new float[cap]; s.StartsAt = new int[cap]; s.BestId = new int[cap];
            }
            best = s.BestScore; startsAt = s.StartsAt; bestId = s.BestId;
        }
        for (int i = 0; i <= size; i++) { startsAt[i] = -1; best[i] = 0; }
        float unkScore = _minScore - UnkPenalty;
        var trie = _unigramTrie!;
        int[] tBase = trie.Base, tCheck = trie.Check, tValue = trie.Values;
        int tSize = trie.Size;
        var types = _types; var scores = _scores;
        int unkId = _proto.UnkId;

        int pos = 0;
        while (pos < size)
        {
            float tillHere = best[pos];
            bool hasSingle = false;
            int mblen = Math.Min(Utf8.CharLength(text[pos]), size - pos);
            if (ReferenceMode)
            {
                // Scalar twin: every prefix looked up in the piece map (no trie).
                for (int k = pos; k < size && k - pos < _maxPieceBytes; k++)
                    if (_pieces.TryGetValue(text[pos..(k + 1)], out int rid) && types[rid] != PieceType.Unused)
                        Consider(rid, k + 1, pos, tillHere, mblen, ref hasSingle, best, startsAt, bestId);
            }
            else
            {
                int node = 0;
                for (int k = pos; k < size; k++)
                {
                    int next = tBase[node] + text[k];
                    if ((uint)next >= (uint)tSize || tCheck[next] != node) break;
                    node = next;
                    int id = tValue[node];
                    if (id < 0 || types[id] == PieceType.Unused) continue;
                    Consider(id, k + 1, pos, tillHere, mblen, ref hasSingle, best, startsAt, bestId);
                }
            }
            if (!hasSingle)
            {
                int end = pos + mblen;
                float candidate = unkScore + tillHere;
                if (startsAt[end] == -1 || candidate > best[end])
                {
                    best[end] = candidate;
                    startsAt[end] = pos;
                    bestId[end] = unkId;
                }
            }
            pos += mblen;
        }

        // Backtrack into a reversed list of end positions, then emit in order.
        var path = s.Path;
        int count = 0;
        for (int end = size; end > 0; end = startsAt[end])
        {
            if (count == path.Length) { Array.Resize(ref path, path.Length * 2); if (path.Length <= Scratch.KeepLimit) s.Path = path; }
            path[count++] = end;
        }
        bool prevUnk = false;
        for (int i = count - 1; i >= 0; i--)
        {
            int end = path[i];
            int start = startsAt[end];
            Emit(bestId[end], text[start..end], ids, ref prevUnk);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Consider(int id, int end, int pos, float tillHere, int mblen, ref bool hasSingle, float[] best, int[] startsAt, int[] bestId)
    {
        int length = end - pos;
        // sentencepiece: `const auto score = IsUserDefined ? (length * max_score_ - 0.1) : GetScore(id)` is a double;
        // the candidate is double; the stored best is float.
        double score = _types[id] == PieceType.UserDefined ? (float)(length * _maxScore) - 0.1 : _scores[id];
        double candidate = score + tillHere;
        if (startsAt[end] == -1 || candidate > best[end])
        {
            best[end] = (float)candidate;
            startsAt[end] = pos;
            bestId[end] = id;
        }
        if (!hasSingle && length == mblen) hasSingle = true;
    }

    private void EncodeBpeByWords(ReadOnlySpan<byte> text, List<int> ids, Scratch s)
    {
        // Split before every `▁` that follows a non-`▁` character (see _wordCacheSafe).
        int start = 0;
        int i = 0;
        bool prevSpace = false;
        bool prevUnk = false;
        while (i < text.Length)
        {
            bool isSpace = i + 3 <= text.Length && text[i] == 0xE2 && text[i + 1] == 0x96 && text[i + 2] == 0x81;
            if (isSpace && !prevSpace && i > start)
            {
                EncodeWordCached(text[start..i], ids, s, ref prevUnk);
                start = i;
            }
            prevSpace = isSpace;
            i += isSpace ? 3 : 1;
        }
        if (start < text.Length) EncodeWordCached(text[start..], ids, s, ref prevUnk);
    }

    private void EncodeWordCached(ReadOnlySpan<byte> word, List<int> ids, Scratch s, ref bool prevUnk)
    {
        var cache = _bpeCache!;
        if (word.Length <= WordCache.MaxWordBytes && cache.TryGet(word, s.CacheHit, out int count))
        {
            // Cached ids are final except for a leading/trailing unk that may merge with a neighbour's.
            for (int k = 0; k < count; k++)
            {
                int id = s.CacheHit[k];
                if (id == _proto.UnkId && !_proto.ByteFallback) { if (prevUnk) continue; prevUnk = true; ids.Add(id); }
                else { prevUnk = false; ids.Add(id); }
            }
            return;
        }
        int before = ids.Count;
        bool localPrevUnk = false;
        EncodeBpeCore(word, ids, s, ref localPrevUnk);
        if (word.Length <= WordCache.MaxWordBytes)
            cache.Add(word, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ids)[before..]);
        // Re-apply cross-word unk merging on the first emitted id.
        if (prevUnk && ids.Count > before && ids[before] == _proto.UnkId && !_proto.ByteFallback) ids.RemoveAt(before);
        if (ids.Count > before) prevUnk = ids[^1] == _proto.UnkId && !_proto.ByteFallback;
    }

    private void EncodeBpe(ReadOnlySpan<byte> text, List<int> ids, Scratch s)
    {
        bool prevUnk = false;
        EncodeBpeCore(text, ids, s, ref prevUnk);
    }

    private struct Symbol { public int Start, Length, Prev, Next; public bool Freeze; }

    private struct Pair { public float Score; public int Left, Right, Size; }

    private void EncodeBpeCore(ReadOnlySpan<byte> text, List<int> ids, Scratch s, ref bool prevUnk)
    {
        // Initial symbols: user-defined pieces (frozen) or single characters.
        int max = text.Length;
        Symbol[] sym;
        if (max > Scratch.KeepLimit) sym = new Symbol[max];
        else
        {
            if (s.Symbols.Length < max) s.Symbols = new Symbol[Math.Min(Scratch.KeepLimit, Math.Max(max, s.Symbols.Length * 2))];
            sym = s.Symbols;
        }
        int n = 0;
        int pos = 0;
        while (pos < text.Length)
        {
            int len = 0; bool freeze = false;
            if (_hasUserDefined) { len = UserDefinedPrefix(text[pos..]); freeze = len > 0; }
            if (len == 0) len = Math.Min(Utf8.CharLength(text[pos]), text.Length - pos);
            sym[n] = new Symbol { Start = pos, Length = len, Prev = n - 1, Next = pos + len < text.Length ? n + 1 : -1, Freeze = freeze };
            n++;
            pos += len;
        }

        var heap = s.Heap;
        heap.Clear();
        for (int i = 1; i < n; i++) MaybeAddPair(text, sym, i - 1, i, heap, s);

        while (heap.Count > 0)
        {
            var top = heap.Pop();
            ref var l = ref sym[top.Left];
            ref var r = ref sym[top.Right];
            if (l.Length == 0 || r.Length == 0 || l.Length + r.Length != top.Size || l.Next != top.Right) continue;
            l.Length += r.Length;
            l.Next = r.Next;
            if (r.Next >= 0) sym[r.Next].Prev = top.Left;
            r.Length = 0;
            MaybeAddPair(text, sym, l.Prev, top.Left, heap, s);
            MaybeAddPair(text, sym, top.Left, l.Next, heap, s);
        }

        for (int i = 0; i != -1 && n > 0; i = sym[i].Next)
        {
            var piece = text.Slice(sym[i].Start, sym[i].Length);
            Resegment(piece, ids, s, ref prevUnk);
        }
        s.RevMerge?.Clear();
        heap.TrimIfLarge(Scratch.KeepLimit);
    }

    private void MaybeAddPair(ReadOnlySpan<byte> text, Symbol[] sym, int left, int right, PairHeap heap, Scratch s)
    {
        if (left == -1 || right == -1 || sym[left].Freeze || sym[right].Freeze) return;
        int size = sym[left].Length + sym[right].Length;
        var piece = text.Slice(sym[left].Start, size);
        if (!_pieces.TryGetValue(piece, out int id)) return;
        heap.Push(new Pair { Score = _scores[id], Left = left, Right = right, Size = size });
        if (_types[id] == PieceType.Unused)
        {
            s.RevMerge ??= new Dictionary<string, (string, string)>();
            s.RevMerge[Encoding.UTF8.GetString(piece)] =
                (Encoding.UTF8.GetString(text.Slice(sym[left].Start, sym[left].Length)),
                 Encoding.UTF8.GetString(text.Slice(sym[right].Start, sym[right].Length)));
        }
    }

    private void Resegment(ReadOnlySpan<byte> piece, List<int> ids, Scratch s, ref bool prevUnk)
    {
        int id = PieceToId(piece);
        if (_types[id] != PieceType.Unused || s.RevMerge == null ||
            !s.RevMerge.TryGetValue(Encoding.UTF8.GetString(piece), out var parts))
        {
            Emit(id, piece, ids, ref prevUnk);
            return;
        }
        Resegment(Encoding.UTF8.GetBytes(parts.Item1), ids, s, ref prevUnk);
        Resegment(Encoding.UTF8.GetBytes(parts.Item2), ids, s, ref prevUnk);
    }

    // ---------------------------------------------------------------- decoding

    /// <summary>sentencepiece DecodeIds: byte pieces reassembled (invalid UTF-8 → U+FFFD per byte), control pieces
    /// empty, unknown → unk_surface, `▁` → space, the first `▁` dropped when add_dummy_prefix.</summary>
    public void Decode(ReadOnlySpan<int> ids, StringBuilder sb)
    {
        var bytes = new List<byte>();
        var text = new List<byte>();
        bool isBosWs = true, bosWsSeen = false;
        foreach (int id in ids)
        {
            if (id < 0 || id >= _types.Length) throw new ArgumentOutOfRangeException(nameof(ids), $"id {id} is outside the vocabulary (0..{_types.Length - 1})");
            if (_types[id] == PieceType.Byte)
            {
                bytes.Add(Convert.ToByte(_proto.Pieces[id].Piece.Substring(3, 2), 16));
                continue;
            }
            FlushBytes(bytes, text);
            if (bosWsSeen || text.Count > 0) isBosWs = false;
            ReadOnlySpan<byte> piece;
            bosWsSeen = false;
            switch (_types[id])
            {
                case PieceType.Control: piece = default; break;
                case PieceType.Unknown: piece = Encoding.UTF8.GetBytes(_proto.UnkSurface); break;
                default:
                    piece = _pieceBytes[id];
                    if (isBosWs && _proto.AddDummyPrefix && piece.StartsWith(SpaceSymbol)) { piece = piece[3..]; bosWsSeen = true; }
                    break;
            }
            AppendUnescaped(piece, text);
        }
        FlushBytes(bytes, text);
        sb.Append(Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(text)));
    }

    private static void AppendUnescaped(ReadOnlySpan<byte> piece, List<byte> text)
    {
        for (int i = 0; i < piece.Length;)
        {
            if (i + 3 <= piece.Length && piece[i] == 0xE2 && piece[i + 1] == 0x96 && piece[i + 2] == 0x81) { text.Add((byte)' '); i += 3; }
            else text.Add(piece[i++]);
        }
    }

    private static void FlushBytes(List<byte> bytes, List<byte> text)
    {
        if (bytes.Count == 0) return;
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes);
        int i = 0;
        while (i < span.Length)
        {
            int len = Utf8.ValidCharLength(span[i..]);
            if (len == 0) { text.AddRange(ReplacementChar); i++; }
            else { for (int k = 0; k < len; k++) text.Add(span[i + k]); i += len; }
        }
        bytes.Clear();
    }

    // ---------------------------------------------------------------- scratch

    private sealed class Scratch
    {
        /// <summary>Inputs longer than this (bytes) use temporary arrays instead of growing the scratch.</summary>
        public const int KeepLimit = 1 << 20;
        public byte[] Input = new byte[256];
        public byte[] Normalized = new byte[256];
        public float[] BestScore = new float[256];
        public int[] StartsAt = new int[256];
        public int[] BestId = new int[256];
        public int[] Path = new int[256];
        public readonly int[] CacheHit = new int[256];
        public Symbol[] Symbols = new Symbol[256];
        public readonly PairHeap Heap = new();
        public Dictionary<string, (string, string)>? RevMerge;
    }

    /// <summary>Max-heap on (score desc, left asc): sentencepiece's SymbolPairComparator.</summary>
    private sealed class PairHeap
    {
        private Pair[] _items = new Pair[256];
        public int Count { get; private set; }
        public void Clear() => Count = 0;
        public void TrimIfLarge(int limit) { if (_items.Length > limit) _items = new Pair[256]; Count = 0; }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static bool Before(in Pair a, in Pair b) => a.Score > b.Score || (a.Score == b.Score && a.Left < b.Left);

        public void Push(Pair p)
        {
            if (Count == _items.Length) Array.Resize(ref _items, Count * 2);
            int i = Count++;
            while (i > 0)
            {
                int parent = (i - 1) >> 1;
                if (!Before(p, _items[parent])) break;
                _items[i] = _items[parent];
                i = parent;
            }
            _items[i] = p;
        }

        public Pair Pop()
        {
            var top = _items[0];
            var last = _items[--Count];
            int i = 0;
            while (true)
            {
                int c = 2 * i + 1;
                if (c >= Count) break;
                if (c + 1 < Count && Before(_items[c + 1], _items[c])) c++;
                if (!Before(_items[c], last)) break;
                _items[i] = _items[c];
                i = c;
            }
            if (Count > 0) _items[i] = last;
            return top;
        }
    }
}
