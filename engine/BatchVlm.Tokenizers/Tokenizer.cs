// The tokenizer every model calls: text → ids (added tokens cut out first, then normalizer → pre-tokenizer → model for
// tokenizer.json, or SentencePiece for .model files, then the post-processor's special tokens) and ids → text.
// Loaded by Tokenizer.FromFile from a folder or file (see TokenizerLoader for what is recognized). Thread-safe: one
// instance can be shared by all worker threads.
//
// Bad input is defined, never fatal: unpaired UTF-16 surrogates become U+FFFD before anything else (Python cannot
// encode such strings and Rust `str` cannot hold them, so there is no reference to follow); control characters and NUL
// go through the model like any character (sentencepiece: NUL is unknown/byte-fallback, charsmap rules may delete
// controls; BERT drops them); strings of any length are encoded (cost linear in length, except BPE without a word
// split: n log n).
using BatchVlm.Tokenizers.Core;
using BatchVlm.Tokenizers.Pipeline;

namespace BatchVlm.Tokenizers;

/// <summary>Which end padding or truncation applies to.</summary>
public enum Side { Right, Left }

/// <summary>How a batch is padded.</summary>
public enum PaddingStrategy
{
    /// <summary>No padding: rows keep their own length.</summary>
    None,
    /// <summary>Pad to the longest row (default).</summary>
    Longest,
    /// <summary>Pad every row to <see cref="BatchEncodingOptions.MaxLength"/>.</summary>
    MaxLength,
}

/// <summary>Options for <see cref="Tokenizer.EncodeBatch"/>. Defaults follow transformers' __call__.</summary>
public sealed record BatchEncodingOptions
{
    /// <summary>Add the special tokens the model's tokenizer adds by default (true).</summary>
    public bool AddSpecialTokens { get; init; } = true;
    /// <summary>Truncate each row to this many ids, special tokens included (null = no truncation).</summary>
    public int? MaxLength { get; init; }
    /// <summary>Padding strategy (Longest).</summary>
    public PaddingStrategy Padding { get; init; } = PaddingStrategy.Longest;
    /// <summary>Round the padded length up to a multiple of this (null = no rounding).</summary>
    public int? PadToMultipleOf { get; init; }
    /// <summary>Side padding goes to (null = the tokenizer's padding_side, itself Right unless configured).</summary>
    public Side? PaddingSide { get; init; }
    /// <summary>Side truncation cuts from (null = the tokenizer's truncation_side, Right unless configured).</summary>
    public Side? TruncationSide { get; init; }
}

/// <summary>Ids and token type ids of an encoded (text, text_pair).</summary>
public sealed record PairEncoding(int[] InputIds, int[] TokenTypeIds);

/// <summary>Ids and attention masks of a batch; rows have equal length unless Padding is None.</summary>
public sealed record BatchEncoding(int[][] InputIds, int[][] AttentionMask);

internal interface ISegmentEncoder
{
    /// <summary>Appends the ids of a text segment that holds no added token.</summary>
    void Encode(string segment, bool atStart, List<int> ids);
}

internal interface ITextDecoder
{
    /// <param name="cleanUp">clean_up_tokenization_spaces; null = the tokenizer's configured default</param>
    string Decode(IReadOnlyList<int> ids, bool skipSpecialTokens, bool? cleanUp);
}

public sealed class Tokenizer
{
    private readonly AddedVocabulary _added;
    private readonly ISegmentEncoder _encoder;
    private readonly IPostProcessor? _post;
    private readonly ITextDecoder _decoder;
    private readonly Func<int, string?> _modelIdToToken;
    private readonly Func<string, int?> _modelTokenToId;

    internal Tokenizer(string description, AddedVocabulary added, ISegmentEncoder encoder, IPostProcessor? post,
        ITextDecoder decoder, Func<int, string?> idToToken, Func<string, int?> tokenToId, int modelVocabSize,
        TokenizerConfig config, int? bos, int? eos, int? pad, int? unk)
    {
        Description = description;
        _added = added; _encoder = encoder; _post = post; _decoder = decoder;
        _modelIdToToken = idToToken; _modelTokenToId = tokenToId;
        ModelVocabSize = modelVocabSize;
        Config = config;
        BosTokenId = bos; EosTokenId = eos; PadTokenId = pad; UnkTokenId = unk;
        DefaultPaddingSide = string.Equals(config.PaddingSide, "left", StringComparison.OrdinalIgnoreCase) ? Side.Left : Side.Right;
        DefaultTruncationSide = string.Equals(config.TruncationSide, "left", StringComparison.OrdinalIgnoreCase) ? Side.Left : Side.Right;
    }

    /// <summary>Loads a tokenizer from a folder (tokenizer.json, *.model, vocab.json+merges.txt or vocab.txt, plus
    /// tokenizer_config.json / special_tokens_map.json) or from one of those files.</summary>
    /// <exception cref="TokenizerFormatException">a file is malformed; the message names the field</exception>
    public static Tokenizer FromFile(string path) => TokenizerLoader.Load(path);

    /// <summary>What was loaded, e.g. "tokenizer.json (BPE)" or "sentencepiece Unigram (XLMRoberta)".</summary>
    public string Description { get; }
    public TokenizerConfig Config { get; }
    /// <summary>Size of the model's own vocabulary (added tokens beyond it not counted).</summary>
    public int ModelVocabSize { get; }
    public int? BosTokenId { get; }
    public int? EosTokenId { get; }
    public int? PadTokenId { get; }
    public int? UnkTokenId { get; }
    public Side DefaultPaddingSide { get; }
    public Side DefaultTruncationSide { get; }
    public IReadOnlyList<AddedToken> AddedTokens => _added.Tokens;
    /// <summary>Ids of every special token (the ones skipped by Decode(skipSpecialTokens: true)).</summary>
    public IReadOnlySet<int> SpecialTokenIds => _specialIds ??= _added.Tokens.Where(t => t.Special).Select(t => t.Id).ToHashSet();
    private IReadOnlySet<int>? _specialIds;
    /// <summary>How many ids Encode(addSpecialTokens: true) adds around a single sequence.</summary>
    public int NumSpecialTokensToAdd => _post?.AddedCount ?? 0;

    /// <summary>Token string for an id (added tokens first), or null.</summary>
    public string? IdToToken(int id) => _added.ById(id)?.Content ?? _modelIdToToken(id);

    /// <summary>Id of a token string (added tokens first), or null.</summary>
    public int? TokenToId(string token) => _added.ByContent(token)?.Id ?? _modelTokenToId(token);

    /// <summary>Encodes one text. <paramref name="addSpecialTokens"/>: add what the model's HF tokenizer adds by default.</summary>
    public int[] Encode(string text, bool addSpecialTokens = true)
    {
        var ids = EncodeCore(text);
        if (addSpecialTokens && _post != null) ids = _post.Process(ids);
        return ids.ToArray();
    }

    /// <summary>Encodes a pair (text, text_pair) as transformers' __call__(text, text_pair) does: the model's pair
    /// template (e.g. [CLS] A [SEP] B [SEP]; PaliGemma's prefix + suffix) and token type ids (0 for A's part, 1 for B's
    /// where the class defines them so). Without special tokens: A + B, type ids 0 then 1.</summary>
    public PairEncoding EncodePair(string text, string textPair, bool addSpecialTokens = true)
    {
        var a = EncodeCore(text);
        var b = EncodeCore(textPair);
        if (!addSpecialTokens || _post == null)
            return new PairEncoding(a.Concat(b).ToArray(), Enumerable.Repeat(0, a.Count).Concat(Enumerable.Repeat(1, b.Count)).ToArray());
        var (ids, types) = _post.ProcessPair(a, b);
        return new PairEncoding(ids.ToArray(), types.ToArray());
    }

    /// <summary>Encodes and appends to <paramref name="ids"/> without special tokens (the hot path: no result array;
    /// SentencePiece models allocate nothing per call unless the text holds an added token).</summary>
    public void EncodeTo(string text, List<int> ids)
    {
        text = Utf8.ReplaceLoneSurrogates(text);
        if (_added.IsEmpty || !_added.MayMatch(text)) { if (text.Length > 0) _encoder.Encode(text, true, ids); return; }
        var segments = new List<AddedVocabulary.Segment>();
        _added.Split(text, segments);
        bool atStart = true;
        foreach (var s in segments)
        {
            if (s.Token != null) ids.Add(s.Token.Id);
            else _encoder.Encode(text[s.Start..s.End], atStart, ids);
            atStart = false;
        }
    }

    private List<int> EncodeCore(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        EncodeTo(text, ids);
        return ids;
    }

    /// <summary>Token strings of Encode(text, false) (convert_ids_to_tokens).</summary>
    public string[] Tokenize(string text) => Encode(text, false).Select(id => IdToToken(id) ?? "").ToArray();

    /// <summary>Encodes a batch with truncation, padding and attention masks.</summary>
    public BatchEncoding EncodeBatch(IReadOnlyList<string> texts, BatchEncodingOptions? options = null)
    {
        options ??= new BatchEncodingOptions();
        var truncSide = options.TruncationSide ?? DefaultTruncationSide;
        var padSide = options.PaddingSide ?? DefaultPaddingSide;
        int added = options.AddSpecialTokens ? NumSpecialTokensToAdd : 0;
        if (options.MaxLength is int ml && ml < added)
            throw new ArgumentOutOfRangeException(nameof(options), $"MaxLength {ml} leaves no room for the {added} special tokens");
        if (options.Padding == PaddingStrategy.MaxLength && options.MaxLength is null)
            throw new ArgumentException("Padding MaxLength needs MaxLength", nameof(options));
        var rows = new List<int>[texts.Count];
        for (int i = 0; i < texts.Count; i++)
        {
            var ids = EncodeCore(texts[i]);
            if (options.MaxLength is int max && ids.Count > max - added)
            {
                int keep = max - added;
                ids = truncSide == Side.Right ? ids.GetRange(0, keep) : ids.GetRange(ids.Count - keep, keep);
            }
            if (options.AddSpecialTokens && _post != null) ids = _post.Process(ids);
            rows[i] = ids;
        }
        int target = options.Padding switch
        {
            PaddingStrategy.Longest => rows.Length == 0 ? 0 : rows.Max(r => r.Count),
            PaddingStrategy.MaxLength => options.MaxLength!.Value,
            _ => 0,
        };
        if (options.Padding != PaddingStrategy.None && options.PadToMultipleOf is int m && m > 0 && target % m != 0)
            target += m - target % m;
        if (options.Padding != PaddingStrategy.None && PadTokenId is null && rows.Any(r => r.Count < target))
            throw new InvalidOperationException($"{Description}: padding requested but the tokenizer has no pad token");
        var inputIds = new int[rows.Length][];
        var masks = new int[rows.Length][];
        for (int i = 0; i < rows.Length; i++)
        {
            var r = rows[i];
            int len = options.Padding == PaddingStrategy.None ? r.Count : Math.Max(target, r.Count);
            var ids = new int[len];
            var mask = new int[len];
            int pad = len - r.Count;
            int offset = padSide == Side.Left ? pad : 0;
            if (pad > 0)
            {
                Array.Fill(ids, PadTokenId!.Value, padSide == Side.Left ? 0 : r.Count, pad);
            }
            r.CopyTo(ids, offset);
            Array.Fill(mask, 1, offset, r.Count);
            inputIds[i] = ids;
            masks[i] = mask;
        }
        return new BatchEncoding(inputIds, masks);
    }

    /// <summary>Decodes ids to text. <paramref name="skipSpecialTokens"/> drops special tokens only (PaliGemma's
    /// non-special &lt;locNNNN&gt; stay). <paramref name="cleanUpTokenizationSpaces"/> overrides the configured
    /// clean_up_tokenization_spaces (" ." → "." and friends; null = config, else the class default). Ids outside the
    /// vocabulary throw ArgumentOutOfRangeException.</summary>
    public string Decode(IReadOnlyList<int> ids, bool skipSpecialTokens = true, bool? cleanUpTokenizationSpaces = null)
    {
        ArgumentNullException.ThrowIfNull(ids);
        foreach (int id in ids)
            if (IdToToken(id) is null)
                throw new ArgumentOutOfRangeException(nameof(ids), $"id {id} is not in the vocabulary of {Description}");
        return _decoder.Decode(ids, skipSpecialTokens, cleanUpTokenizationSpaces);
    }

    internal bool IsSpecial(int id) => _added.ById(id) is { Special: true };
    internal AddedToken? AddedById(int id) => _added.ById(id);
}

/// <summary>Decoder of tokenizer.json pipelines: ids → tokens → decoder chain (or " ".join) → optional cleanup.</summary>
internal sealed class HfTextDecoder(AddedVocabulary added, Func<int, string?> modelIdToToken, IDecoder? decoder, bool cleanup,
    bool stripResult = false) : ITextDecoder
{
    public string Decode(IReadOnlyList<int> ids, bool skipSpecialTokens, bool? cleanUp)
    {
        var tokens = new List<string>(ids.Count);
        foreach (int id in ids)
        {
            var a = added.ById(id);
            if (a != null)
            {
                if (skipSpecialTokens && a.Special) continue;
                tokens.Add(a.Content);
                continue;
            }
            var t = modelIdToToken(id);
            if (t != null) tokens.Add(t);
        }
        string text = decoder == null ? string.Join(" ", tokens) : string.Concat(decoder.DecodeChain(tokens));
        if (cleanUp ?? cleanup) text = Cleanup.CleanUpTokenization(text);
        return stripResult ? text.Trim(SentencePiece.SlowSentencePieceDecoder.PythonWhitespace) : text;
    }
}

/// <summary>Segment encoder of tokenizer.json pipelines: normalizer → pre-tokenizer → model.</summary>
internal sealed class HfSegmentEncoder(INormalizer? normalizer, IPreTokenizer? preTokenizer, Models.IModel model) : ISegmentEncoder
{
    [ThreadStatic] private static List<string>? t_pieces;
    /// <summary>A per-thread list grown past this many pieces is dropped after use, so one huge text is not kept alive.</summary>
    private const int KeepPieces = 1 << 16;

    public void Encode(string segment, bool atStart, List<int> ids)
    {
        string s = normalizer?.Normalize(segment) ?? segment;
        if (s.Length == 0) return;
        if (preTokenizer == null) { model.Tokenize(s, ids); return; }
        var pieces = t_pieces ??= new List<string>();
        pieces.Clear();
        preTokenizer.PreTokenize(s, atStart, pieces);
        if (model is Models.UnigramModel && pieces.Count > 1)
        {
            // One Viterbi over the whole segment, as sentencepiece runs it: exact ties break by float sums that
            // include everything before them, so per-word lattices would break some ties differently.
            model.Tokenize(string.Concat(pieces), ids);
        }
        else foreach (var p in pieces) model.Tokenize(p, ids);
        pieces.Clear();
        if (pieces.Capacity > KeepPieces) t_pieces = null;
    }
}
