// Finds and reads tokenizer files. A folder is searched in this order: tokenizer.json (the fast pipeline, as
// transformers prefers it), a SentencePiece model (tokenizer.model, spiece.model, sentencepiece.bpe.model), GPT-2
// style vocab.json + merges.txt, BERT vocab.txt; tokenizer_config.json / special_tokens_map.json beside it supply
// the special tokens and add_bos/add_eos. A file path loads that file with the config files of its folder.
// tokenizer.json is parsed with System.Text.Json; every error names the JSON path of the field ($.model.merges[3]).
using System.Text.Json;
using BatchVlm.Tokenizers.Models;
using BatchVlm.Tokenizers.Pipeline;
using BatchVlm.Tokenizers.SentencePiece;

namespace BatchVlm.Tokenizers;

internal static class TokenizerLoader
{
    private static readonly string[] SentencePieceNames = ["tokenizer.model", "spiece.model", "sentencepiece.bpe.model"];

    public static Tokenizer Load(string path)
    {
        if (Directory.Exists(path))
        {
            var config = TokenizerConfig.Load(path);
            string tj = Path.Combine(path, "tokenizer.json");
            if (File.Exists(tj)) return TokenizerJsonReader.Load(tj, config);
            foreach (var n in SentencePieceNames)
                if (File.Exists(Path.Combine(path, n))) return LoadSentencePiece(Path.Combine(path, n), config);
            var models = Directory.GetFiles(path, "*.model");
            if (models.Length == 1) return LoadSentencePiece(models[0], config);
            if (File.Exists(Path.Combine(path, "vocab.json")) && File.Exists(Path.Combine(path, "merges.txt")))
                return ClassicFiles.LoadGpt2(Path.Combine(path, "vocab.json"), Path.Combine(path, "merges.txt"), config);
            if (File.Exists(Path.Combine(path, "vocab.txt"))) return ClassicFiles.LoadBert(Path.Combine(path, "vocab.txt"), config);
            throw new TokenizerFormatException(path, "(folder)",
                "no tokenizer.json, *.model, vocab.json+merges.txt or vocab.txt in this folder");
        }
        if (!File.Exists(path)) throw new FileNotFoundException($"tokenizer path '{path}' does not exist", path);
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var cfg = TokenizerConfig.Load(folder);
        string name = Path.GetFileName(path);
        if (name.EndsWith(".model", StringComparison.OrdinalIgnoreCase)) return LoadSentencePiece(path, cfg);
        if (name == "vocab.txt") return ClassicFiles.LoadBert(path, cfg);
        if (name == "vocab.json" || name == "merges.txt")
            return ClassicFiles.LoadGpt2(Path.Combine(folder, "vocab.json"), Path.Combine(folder, "merges.txt"), cfg);
        if (name.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return TokenizerJsonReader.Load(path, cfg);
        throw new TokenizerFormatException(path, "(file)", "unrecognized tokenizer file (expected tokenizer.json, *.model, vocab.json, merges.txt or vocab.txt)");
    }

    public static Tokenizer LoadSentencePiece(string path, TokenizerConfig config)
    {
        var proto = SentencePieceModelProto.Parse(File.ReadAllBytes(path), path);
        return SlowSentencePieceTokenizerBuilder.Build(proto, path, Path.GetFileName(path), config);
    }
}

/// <summary>vocab.json + merges.txt (GPT2Tokenizer) and vocab.txt (BertTokenizer) checkpoints without tokenizer.json.</summary>
internal static class ClassicFiles
{
    public static Tokenizer LoadGpt2(string vocabPath, string mergesPath, TokenizerConfig config)
    {
        if (!File.Exists(vocabPath)) throw new FileNotFoundException($"'{vocabPath}' not found beside merges.txt", vocabPath);
        if (!File.Exists(mergesPath)) throw new FileNotFoundException($"'{mergesPath}' not found beside vocab.json", mergesPath);
        Dictionary<string, int> vocab;
        using (var doc = ParseJson(File.ReadAllText(vocabPath), vocabPath))
            vocab = TokenizerJsonReader.ReadVocabObject(doc.RootElement, vocabPath, "$");
        var merges = new List<(string, string)>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(mergesPath))
        {
            lineNo++;
            if (line.StartsWith("#version", StringComparison.Ordinal) || line.Length == 0) continue;
            var parts = line.Split(' ');
            if (parts.Length != 2) throw new TokenizerFormatException(mergesPath, $"line {lineNo}", $"expected two space-separated tokens, got '{line}'");
            merges.Add((parts[0], parts[1]));
        }
        var model = new BpeModel(vocab, merges, null, null, null, false, false, false, mergesPath, "merges");
        var added = new AddedVocabulary();
        string unkS = config.UnkToken?.Content ?? "<|endoftext|>";
        string bosS = config.BosToken?.Content ?? "<|endoftext|>";
        string eosS = config.EosToken?.Content ?? "<|endoftext|>";
        int? Id(string t) => vocab.TryGetValue(t, out int id) ? id : null;
        int next = vocab.Count == 0 ? 0 : vocab.Values.Max() + 1;
        int Register(string content)
        {
            var existing = added.ByContent(content);
            if (existing != null) return existing.Id;
            int id = Id(content) ?? next++;
            added.Add(new AddedToken(content, id, true));
            return id;
        }
        int bos = Register(bosS), eos = Register(eosS), unk = Register(unkS);
        int? pad = config.PadToken is { } p ? Register(p.Content) : null;
        foreach (var t in config.AdditionalSpecialTokens) Register(t.Content);
        foreach (var t in config.AddedTokensDecoder) added.Add(t);
        var pre = new ByteLevelPreTokenizer(config.AddPrefixSpace ?? false, true);
        int[] bosIds = config.AddBosToken ?? false ? [bos] : [];
        // GPT2Tokenizer.build_inputs_with_special_tokens: bos + A (+ bos + B); eos is never added.
        var post = new TemplatePostProcessor(bosIds, [],
            [TemplateItem.Special(bosIds), TemplateItem.Seq(0, 0), TemplateItem.Special(bosIds, 1), TemplateItem.Seq(1, 1)]);
        var decoder = new HfTextDecoder(added, model.IdToToken, new ByteLevelDecoder(), config.CleanUpTokenizationSpaces ?? false);
        return new Tokenizer($"GPT-2 byte-level BPE from {Path.GetFileName(vocabPath)} + {Path.GetFileName(mergesPath)}", added,
            new HfSegmentEncoder(null, pre, model), post, decoder, model.IdToToken, model.TokenToId, model.VocabSize, config,
            bos, eos, pad, unk);
    }

    public static Tokenizer LoadBert(string vocabPath, TokenizerConfig config)
    {
        var vocab = new Dictionary<string, int>();
        int i = 0;
        foreach (var line in File.ReadLines(vocabPath))
        {
            string t = line.TrimEnd('\r', '\n');
            vocab.TryAdd(t, i++);
        }
        string unkS = config.UnkToken?.Content ?? "[UNK]", clsS = config.ClsToken?.Content ?? "[CLS]", sepS = config.SepToken?.Content ?? "[SEP]";
        string padS = config.PadToken?.Content ?? "[PAD]", maskS = config.MaskToken?.Content ?? "[MASK]";
        var model = new WordPieceModel(vocab, unkS, "##", 100, vocabPath);
        var added = new AddedVocabulary();
        foreach (var s in new[] { padS, unkS, clsS, sepS, maskS })
            if (vocab.TryGetValue(s, out int id)) added.Add(new AddedToken(s, id, true));
        foreach (var t in config.AddedTokensDecoder) added.Add(t);
        bool lower = config.DoLowerCase ?? true;
        var norm = new BertNormalizer(true, true, null, lower);
        int Required(string token, string field) => vocab.TryGetValue(token, out int id) ? id
            : throw new TokenizerFormatException(vocabPath, field, $"'{token}' is not in the vocabulary (BertTokenizer needs it)");
        int clsId = Required(clsS, "cls_token"), sepId = Required(sepS, "sep_token");
        var post = new TemplatePostProcessor([clsId], [sepId],
            [TemplateItem.Special([clsId]), TemplateItem.Seq(0, 0), TemplateItem.Special([sepId]), TemplateItem.Seq(1, 1), TemplateItem.Special([sepId], 1)]);
        var decoder = new HfTextDecoder(added, model.IdToToken, new WordPieceDecoder("##", true), config.CleanUpTokenizationSpaces ?? true);
        return new Tokenizer($"BERT WordPiece from {Path.GetFileName(vocabPath)}", added, new HfSegmentEncoder(norm, new BertPreTokenizer(), model),
            post, decoder, model.IdToToken, model.TokenToId, model.VocabSize, config, null, null, vocab.TryGetValue(padS, out int padId) ? padId : null, Required(unkS, "unk_token"));
    }

    /// <summary>Parses a JSON file's text; a syntax error is a TokenizerFormatException naming the line and byte.</summary>
    /// <param name="allowTrailingCommas">config files only (tokenizer_config.json, special_tokens_map.json)</param>
    internal static JsonDocument ParseJson(string json, string source, bool allowTrailingCommas = false)
    {
        try { return JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = allowTrailingCommas }); }
        catch (JsonException e) { throw new TokenizerFormatException(source, $"$ (line {e.LineNumber + 1}, byte {e.BytePositionInLine})", e.Message, e); }
    }
}
