// Reader for Hugging Face `tokenizer.json` (tokenizers 0.13–0.20 serialization, including the older forms: Metaspace
// with `add_prefix_space`/`str_rep`, merges as "a b" strings or [a, b] pairs, models without "type"). Every error names
// the JSON path of the offending field. transformers' fast-class rules applied on top: Llama/Gemma rebuild the
// template from add_bos_token/add_eos_token when tokenizer_config.json sets them; clean_up_tokenization_spaces comes
// from the config, else the class default (true only for BERT/WordPiece). For T5 and XLM-R the slow class's rules
// are applied (the golden ids and texts come from it, and they are what the checkpoints were trained with): T5's </s>
// is not appended twice, and decoded text is strip()ped like their convert_tokens_to_string. A Unigram model runs one
// Viterbi over all pre-tokenized pieces of a segment, as sentencepiece does (see HfSegmentEncoder).
using System.Text.Json;
using System.Text.RegularExpressions;
using BatchVlm.Tokenizers.Models;
using BatchVlm.Tokenizers.Pipeline;
using BatchVlm.Tokenizers.SentencePiece;
using BatchVlm.Tokenizers.Unicode;

namespace BatchVlm.Tokenizers;

internal static class TokenizerJsonReader
{
    public static Tokenizer Load(string path, TokenizerConfig config)
    {
        using var doc = ClassicFiles.ParseJson(File.ReadAllText(path), path);
        return Build(doc.RootElement, path, config);
    }

    public static Tokenizer Parse(string json, string source, TokenizerConfig? config = null)
    {
        using var doc = ClassicFiles.ParseJson(json, source);
        return Build(doc.RootElement, source, config ?? new TokenizerConfig());
    }

    private sealed class Ctx(string source)
    {
        public string Source { get; } = source;
        public TokenizerFormatException Error(string path, string reason) => new(Source, path, reason);

        public JsonElement Req(JsonElement obj, string name, string path)
        {
            if (obj.ValueKind != JsonValueKind.Object) throw Error(path, $"expected an object, got {obj.ValueKind}");
            if (!obj.TryGetProperty(name, out var v)) throw Error($"{path}.{name}", "required field is missing");
            return v;
        }

        public JsonElement? Opt(JsonElement obj, string name) =>
            obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

        public string Str(JsonElement e, string path) =>
            e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Error(path, $"expected a string, got {e.ValueKind}");

        public string ReqStr(JsonElement obj, string name, string path) => Str(Req(obj, name, path), $"{path}.{name}");

        public string? OptStr(JsonElement obj, string name, string path) => Opt(obj, name) is { } v ? Str(v, $"{path}.{name}") : null;

        public bool OptBool(JsonElement obj, string name, string path, bool dflt)
        {
            if (Opt(obj, name) is not { } v) return dflt;
            return v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Error($"{path}.{name}", $"expected true or false, got {v.ValueKind}"),
            };
        }

        public int Int(JsonElement e, string path) =>
            e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int i) ? i : throw Error(path, $"expected an integer, got {e.ValueKind} {e}");

        public JsonElement Arr(JsonElement e, string path) =>
            e.ValueKind == JsonValueKind.Array ? e : throw Error(path, $"expected an array, got {e.ValueKind}");

        public string Type(JsonElement obj, string path) => ReqStr(obj, "type", path);
    }

    private static Tokenizer Build(JsonElement root, string source, TokenizerConfig config)
    {
        var c = new Ctx(source);
        if (root.ValueKind != JsonValueKind.Object) throw c.Error("$", "expected a JSON object");
        var model = ReadModel(c, c.Req(root, "model", "$"), "$.model");
        var added = new AddedVocabulary();
        if (c.Opt(root, "added_tokens") is { } at)
        {
            int i = 0;
            foreach (var e in c.Arr(at, "$.added_tokens").EnumerateArray())
            {
                string p = $"$.added_tokens[{i++}]";
                added.Add(new AddedToken(c.ReqStr(e, "content", p), c.Int(c.Req(e, "id", p), $"{p}.id"),
                    c.OptBool(e, "special", p, false), c.OptBool(e, "lstrip", p, false), c.OptBool(e, "rstrip", p, false),
                    c.OptBool(e, "single_word", p, false), c.OptBool(e, "normalized", p, true)));
            }
        }
        var normalizer = c.Opt(root, "normalizer") is { } n ? ReadNormalizer(c, n, "$.normalizer") : null;
        var pre = c.Opt(root, "pre_tokenizer") is { } pt ? ReadPreTokenizer(c, pt, "$.pre_tokenizer") : null;
        var post = c.Opt(root, "post_processor") is { } pp ? ReadPostProcessor(c, pp, "$.post_processor", added, model) : null;
        var dec = c.Opt(root, "decoder") is { } d ? ReadDecoder(c, d, "$.decoder") : null;

        config = WithFamilyDefaults(config, added, model);
        int? Lookup(AddedToken? t) => t is null ? null : added.ByContent(t.Content)?.Id ?? model.TokenToId(t.Content);
        // Config tokens missing from added_tokens are registered as specials (transformers does the same).
        // Tokens already added but not special become special (transformers' add_special_tokens does the same).
        foreach (var t in new[] { config.BosToken, config.EosToken, config.UnkToken, config.PadToken, config.ClsToken, config.SepToken, config.MaskToken }
                     .Concat(config.AdditionalSpecialTokens))
        {
            if (t == null) continue;
            if (added.ByContent(t.Content) is { Special: false } existing) added.Add(existing with { Special = true });
            else if (added.ByContent(t.Content) == null && model.TokenToId(t.Content) is int id) added.Add(t with { Id = id, Special = true });
        }
        foreach (var t in config.AddedTokensDecoder)
            if (added.ById(t.Id) == null) added.Add(t);

        int? bos = Lookup(config.BosToken), eos = Lookup(config.EosToken), pad = Lookup(config.PadToken), unk = Lookup(config.UnkToken);
        if (config.Family is "Llama" or "Gemma" or "PaliGemma" && (config.AddBosToken != null || config.AddEosToken != null))
        {
            // LlamaTokenizerFast/GemmaTokenizerFast.update_post_processor
            bool addBos = config.AddBosToken ?? true, addEos = config.AddEosToken ?? false;
            post = new TemplatePostProcessor(addBos && bos != null ? [bos.Value] : [], addEos && eos != null ? [eos.Value] : []);
        }
        bool t5 = config.Family is "T5" or "MT5" or "UMT5";
        bool strip = t5 || config.Family is "XLMRoberta" or "AltCLIP";
        if (t5 && post is TemplatePostProcessor { Before.Length: 0, After.Length: 1 } tpl && tpl.After[0] == eos)
            post = new EosIfNotPresentPostProcessor(tpl.After[0]);
        bool cleanup = config.CleanUpTokenizationSpaces ?? (config.Family == "Bert" || (config.Family == null && model is WordPieceModel));
        var decoder = new HfTextDecoder(added, model.IdToToken, dec, cleanup, stripResult: strip);
        return new Tokenizer($"tokenizer.json ({model.GetType().Name.Replace("Model", "")}) from {Path.GetFileName(source)}",
            added, new HfSegmentEncoder(normalizer, pre, model), post, decoder, model.IdToToken, model.TokenToId,
            model.VocabSize, config, bos, eos, pad, unk);
    }

    /// <summary>
    /// Special tokens the transformers class defines by default when tokenizer_config.json does not name them
    /// (e.g. BertTokenizer's [PAD]); without a class, the usual names among the added tokens.
    /// </summary>
    private static TokenizerConfig WithFamilyDefaults(TokenizerConfig c, AddedVocabulary added, IModel model)
    {
        (string? Bos, string? Eos, string? Unk, string? Pad) d = c.Family switch
        {
            "Bert" or "DistilBert" => (null, null, "[UNK]", "[PAD]"),
            "T5" or "MT5" or "UMT5" => (null, "</s>", "<unk>", "<pad>"),
            "XLMRoberta" or "Roberta" or "AltCLIP" => ("<s>", "</s>", "<unk>", "<pad>"),
            "Gemma" or "PaliGemma" => ("<bos>", "<eos>", "<unk>", "<pad>"),
            "Llama" => ("<s>", "</s>", "<unk>", null),
            "GPT2" => ("<|endoftext|>", "<|endoftext|>", "<|endoftext|>", null),
            "CLIP" => ("<|startoftext|>", "<|endoftext|>", "<|endoftext|>", "<|endoftext|>"),
            _ => (First(["<bos>", "<s>", "<|startoftext|>"]), First(["<eos>", "</s>", "<|endoftext|>"]),
                  First(["<unk>", "[UNK]"]), First(["<pad>", "[PAD]"])),
        };
        string? First(string[] names) => names.FirstOrDefault(n => added.ByContent(n) != null || model.TokenToId(n) != null);
        AddedToken? Tok(AddedToken? t, string? name) => t ?? (name is null ? null : new AddedToken(name, -1, true));
        return c with
        {
            BosToken = Tok(c.BosToken, d.Bos), EosToken = Tok(c.EosToken, d.Eos), UnkToken = Tok(c.UnkToken, d.Unk), PadToken = Tok(c.PadToken, d.Pad),
        };
    }

    internal static Dictionary<string, int> ReadVocabObject(JsonElement e, string source, string path)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(source, path, $"expected an object of token → id, got {e.ValueKind}");
        var vocab = new Dictionary<string, int>();
        foreach (var p in e.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
                throw new TokenizerFormatException(source, $"{path}[{JsonSerializer.Serialize(p.Name)}]", $"expected a non-negative integer id, got {p.Value}");
            vocab[p.Name] = id;
        }
        int limit = vocab.Count + Vocabulary.MaxIdGap;
        foreach (var (token, id) in vocab)
            if (id >= limit)
                throw new TokenizerFormatException(source, $"{path}[{JsonSerializer.Serialize(token)}]",
                    $"id {id} is far beyond the vocabulary's {vocab.Count} tokens (more than {Vocabulary.MaxIdGap} unused ids below it)");
        return vocab;
    }

    private static IModel ReadModel(Ctx c, JsonElement m, string path)
    {
        string? type = c.OptStr(m, "type", path);
        type ??= c.Opt(m, "merges") != null ? "BPE" : c.Opt(m, "unk_id") != null ? "Unigram"
            : c.Opt(m, "max_input_chars_per_word") != null ? "WordPiece" : "WordLevel";
        switch (type)
        {
            case "BPE":
            {
                var vocab = ReadVocabObject(c.Req(m, "vocab", path), c.Source, $"{path}.vocab");
                var merges = new List<(string, string)>();
                int i = 0;
                foreach (var e in c.Arr(c.Req(m, "merges", path), $"{path}.merges").EnumerateArray())
                {
                    string p = $"{path}.merges[{i++}]";
                    if (e.ValueKind == JsonValueKind.String)
                    {
                        string s = e.GetString()!;
                        int sp = s.IndexOf(' ', 1);
                        if (sp < 0) throw c.Error(p, $"merge '{s}' is not two space-separated tokens");
                        merges.Add((s[..sp], s[(sp + 1)..]));
                    }
                    else if (e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 2)
                        merges.Add((c.Str(e[0], $"{p}[0]"), c.Str(e[1], $"{p}[1]")));
                    else throw c.Error(p, $"expected \"a b\" or [\"a\", \"b\"], got {e.ValueKind}");
                }
                if (c.Opt(m, "dropout") is { ValueKind: JsonValueKind.Number } dr && dr.GetDouble() > 0)
                    throw c.Error($"{path}.dropout", "BPE dropout makes encoding random; only null/0 is supported for inference");
                return new BpeModel(vocab, merges, c.OptStr(m, "unk_token", path), c.OptStr(m, "continuing_subword_prefix", path),
                    c.OptStr(m, "end_of_word_suffix", path), c.OptBool(m, "fuse_unk", path, false), c.OptBool(m, "byte_fallback", path, false),
                    c.OptBool(m, "ignore_merges", path, false), c.Source, $"{path}.merges");
            }
            case "Unigram":
            {
                var list = new List<(string, float)>();
                int i = 0;
                foreach (var e in c.Arr(c.Req(m, "vocab", path), $"{path}.vocab").EnumerateArray())
                {
                    string p = $"{path}.vocab[{i++}]";
                    if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() != 2 || e[1].ValueKind != JsonValueKind.Number)
                        throw c.Error(p, "expected [piece, score]");
                    list.Add((c.Str(e[0], $"{p}[0]"), (float)e[1].GetDouble()));
                }
                int unkId = c.Opt(m, "unk_id") is { } u ? c.Int(u, $"{path}.unk_id") : throw c.Error($"{path}.unk_id", "Unigram without unk_id is not supported");
                return new UnigramModel(list, unkId, c.OptBool(m, "byte_fallback", path, false), c.Source);
            }
            case "WordPiece":
            {
                var vocab = ReadVocabObject(c.Req(m, "vocab", path), c.Source, $"{path}.vocab");
                int max = c.Opt(m, "max_input_chars_per_word") is { } x ? c.Int(x, $"{path}.max_input_chars_per_word") : 100;
                return new WordPieceModel(vocab, c.OptStr(m, "unk_token", path) ?? "[UNK]", c.OptStr(m, "continuing_subword_prefix", path) ?? "##", max, c.Source);
            }
            case "WordLevel":
            {
                var vocab = ReadVocabObject(c.Req(m, "vocab", path), c.Source, $"{path}.vocab");
                // WordLevel = WordPiece with no sub-words: a word is its id or unk.
                return new WordPieceModel(vocab, c.OptStr(m, "unk_token", path) ?? "<unk>", "\u0000no-subwords\u0000", int.MaxValue, c.Source);
            }
            default: throw c.Error($"{path}.type", $"unsupported model type '{type}' (supported: BPE, Unigram, WordPiece, WordLevel)");
        }
    }

    private static (string? Literal, Regex? Regex) ReadPattern(Ctx c, JsonElement obj, string path)
    {
        var p = c.Req(obj, "pattern", path);
        if (c.Opt(p, "String") is { } s) return (c.Str(s, $"{path}.pattern.String"), null);
        if (c.Opt(p, "Regex") is { } r)
        {
            string rx = c.Str(r, $"{path}.pattern.Regex");
            try { return (null, RegexTranslation.Compile(rx)); }
            catch (ArgumentException e) { throw c.Error($"{path}.pattern.Regex", $"invalid regex: {e.Message}"); }
        }
        throw c.Error($"{path}.pattern", "expected {\"String\": ...} or {\"Regex\": ...}");
    }

    private static SplitBehavior ReadBehavior(Ctx c, JsonElement obj, string path, SplitBehavior dflt)
    {
        string? b = c.OptStr(obj, "behavior", path);
        return b switch
        {
            null => dflt,
            "Removed" => SplitBehavior.Removed,
            "Isolated" => SplitBehavior.Isolated,
            "MergedWithPrevious" => SplitBehavior.MergedWithPrevious,
            "MergedWithNext" => SplitBehavior.MergedWithNext,
            "Contiguous" => SplitBehavior.Contiguous,
            _ => throw c.Error($"{path}.behavior", $"unknown split behavior '{b}'"),
        };
    }

    private static INormalizer ReadNormalizer(Ctx c, JsonElement n, string path)
    {
        string type = c.Type(n, path);
        switch (type)
        {
            case "Sequence":
            {
                var list = new List<INormalizer>();
                int i = 0;
                foreach (var e in c.Arr(c.Req(n, "normalizers", path), $"{path}.normalizers").EnumerateArray())
                    list.Add(ReadNormalizer(c, e, $"{path}.normalizers[{i++}]"));
                return new SequenceNormalizer(list);
            }
            case "NFC": return new UnicodeNormalizer(NormalizationKind.Nfc);
            case "NFD": return new UnicodeNormalizer(NormalizationKind.Nfd);
            case "NFKC": return new UnicodeNormalizer(NormalizationKind.Nfkc);
            case "NFKD": return new UnicodeNormalizer(NormalizationKind.Nfkd);
            case "Lowercase": return new LowercaseNormalizer();
            case "Strip": return new StripNormalizer(c.OptBool(n, "strip_left", path, true), c.OptBool(n, "strip_right", path, true));
            case "StripAccents": return new StripAccentsNormalizer();
            case "Replace":
            {
                var (lit, rx) = ReadPattern(c, n, path);
                return new ReplaceNormalizer(lit, rx, c.ReqStr(n, "content", path));
            }
            case "Prepend": return new PrependNormalizer(c.ReqStr(n, "prepend", path));
            case "BertNormalizer":
            {
                bool? strip = c.Opt(n, "strip_accents") is { } sa
                    ? sa.ValueKind is JsonValueKind.True or JsonValueKind.False ? sa.GetBoolean() : throw c.Error($"{path}.strip_accents", "expected true, false or null")
                    : null;
                return new BertNormalizer(c.OptBool(n, "clean_text", path, true), c.OptBool(n, "handle_chinese_chars", path, true),
                    strip, c.OptBool(n, "lowercase", path, true));
            }
            case "Precompiled":
            {
                string b64 = c.ReqStr(n, "precompiled_charsmap", path);
                byte[] blob;
                try { blob = Convert.FromBase64String(b64); }
                catch (FormatException) { throw c.Error($"{path}.precompiled_charsmap", "not valid base64"); }
                if (blob.Length == 0) return new SequenceNormalizer([]);
                return new PrecompiledNormalizer(new PrecompiledCharsMap(blob, c.Source, $"{path}.precompiled_charsmap"));
            }
            case "ByteLevel": return new ByteLevelNormalizer();
            default: throw c.Error($"{path}.type", $"unsupported normalizer '{type}'");
        }
    }

    private sealed class ByteLevelNormalizer : INormalizer
    {
        public string Normalize(string text) => ByteLevelAlphabet.Encode(text);
    }

    private static IPreTokenizer ReadPreTokenizer(Ctx c, JsonElement p, string path)
    {
        string type = c.Type(p, path);
        switch (type)
        {
            case "Sequence":
            {
                var list = new List<IPreTokenizer>();
                int i = 0;
                foreach (var e in c.Arr(c.Req(p, "pretokenizers", path), $"{path}.pretokenizers").EnumerateArray())
                    list.Add(ReadPreTokenizer(c, e, $"{path}.pretokenizers[{i++}]"));
                return new SequencePreTokenizer(list);
            }
            case "ByteLevel": return new ByteLevelPreTokenizer(c.OptBool(p, "add_prefix_space", path, true), c.OptBool(p, "use_regex", path, true));
            case "Metaspace":
            {
                var (rep, scheme) = ReadMetaspace(c, p, path);
                return new MetaspacePreTokenizer(rep, scheme, c.OptBool(p, "split", path, true));
            }
            case "Whitespace": return new WhitespacePreTokenizer();
            case "WhitespaceSplit": return new WhitespaceSplitPreTokenizer();
            case "BertPreTokenizer": return new BertPreTokenizer();
            case "Split":
            {
                var (lit, rx) = ReadPattern(c, p, path);
                return new SplitPreTokenizer(lit, rx, ReadBehavior(c, p, path, SplitBehavior.Isolated), c.OptBool(p, "invert", path, false));
            }
            case "Punctuation": return new PunctuationPreTokenizer(ReadBehavior(c, p, path, SplitBehavior.Isolated));
            case "Digits": return new DigitsPreTokenizer(c.OptBool(p, "individual_digits", path, false));
            default: throw c.Error($"{path}.type", $"unsupported pre-tokenizer '{type}'");
        }
    }

    private static (char, PrependScheme) ReadMetaspace(Ctx c, JsonElement p, string path)
    {
        string rep = c.OptStr(p, "replacement", path) ?? "\u2581";
        if (rep.Length != 1) throw c.Error($"{path}.replacement", $"expected one character, got '{rep}'");
        PrependScheme scheme;
        if (c.OptStr(p, "prepend_scheme", path) is { } s)
            scheme = s switch
            {
                "always" => PrependScheme.Always,
                "first" => PrependScheme.First,
                "never" => PrependScheme.Never,
                _ => throw c.Error($"{path}.prepend_scheme", $"expected always, first or never, got '{s}'"),
            };
        else scheme = c.OptBool(p, "add_prefix_space", path, true) ? PrependScheme.Always : PrependScheme.Never;
        return (rep[0], scheme);
    }

    private static int TokenId(Ctx c, string token, string path, AddedVocabulary added, IModel model) =>
        added.ByContent(token)?.Id ?? model.TokenToId(token) ?? throw c.Error(path, $"special token '{token}' is not in the vocabulary");

    private static IPostProcessor? ReadPostProcessor(Ctx c, JsonElement p, string path, AddedVocabulary added, IModel model)
    {
        string type = c.Type(p, path);
        switch (type)
        {
            case "TemplateProcessing":
            {
                var specials = new Dictionary<string, int[]>();
                if (c.Opt(p, "special_tokens") is { } st)
                    foreach (var e in st.EnumerateObject())
                    {
                        string sp = $"{path}.special_tokens.{e.Name}";
                        var ids = c.Arr(c.Req(e.Value, "ids", sp), $"{sp}.ids").EnumerateArray().Select((x, k) => c.Int(x, $"{sp}.ids[{k}]")).ToArray();
                        specials[e.Name] = ids;
                    }
                var before = new List<int>(); var after = new List<int>();
                bool seenSeq = false;
                int i = 0;
                foreach (var item in c.Arr(c.Req(p, "single", path), $"{path}.single").EnumerateArray())
                {
                    string ip = $"{path}.single[{i++}]";
                    if (c.Opt(item, "Sequence") is { } seq)
                    {
                        string id = c.ReqStr(seq, "id", $"{ip}.Sequence");
                        if (id != "A") throw c.Error($"{ip}.Sequence.id", $"a single-sequence template can only hold $A, got ${id}");
                        seenSeq = true;
                    }
                    else if (c.Opt(item, "SpecialToken") is { } tok)
                    {
                        string id = c.ReqStr(tok, "id", $"{ip}.SpecialToken");
                        if (!specials.TryGetValue(id, out var ids)) throw c.Error($"{ip}.SpecialToken.id", $"'{id}' is not listed in special_tokens");
                        (seenSeq ? after : before).AddRange(ids);
                    }
                    else throw c.Error(ip, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
                }
                List<TemplateItem>? pair = null;
                if (c.Opt(p, "pair") is { ValueKind: JsonValueKind.Array } pairArr && pairArr.GetArrayLength() > 0)
                {
                    pair = new List<TemplateItem>();
                    int j = 0;
                    foreach (var item in pairArr.EnumerateArray())
                    {
                        string ip = $"{path}.pair[{j++}]";
                        if (c.Opt(item, "Sequence") is { } seq)
                        {
                            string id = c.ReqStr(seq, "id", $"{ip}.Sequence");
                            int typeId = c.Opt(seq, "type_id") is { } t ? c.Int(t, $"{ip}.Sequence.type_id") : 0;
                            pair.Add(TemplateItem.Seq(id switch { "A" => 0, "B" => 1, _ => throw c.Error($"{ip}.Sequence.id", $"expected A or B, got {id}") }, typeId));
                        }
                        else if (c.Opt(item, "SpecialToken") is { } tok)
                        {
                            string id = c.ReqStr(tok, "id", $"{ip}.SpecialToken");
                            if (!specials.TryGetValue(id, out var ids)) throw c.Error($"{ip}.SpecialToken.id", $"'{id}' is not listed in special_tokens");
                            int typeId = c.Opt(tok, "type_id") is { } t ? c.Int(t, $"{ip}.SpecialToken.type_id") : 0;
                            pair.Add(TemplateItem.Special(ids, typeId));
                        }
                        else throw c.Error(ip, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
                    }
                }
                return new TemplatePostProcessor(before.ToArray(), after.ToArray(), pair);
            }
            case "RobertaProcessing":
            case "BertProcessing":
            {
                int Pair(string name)
                {
                    var e = c.Req(p, name, path);
                    if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() != 2) throw c.Error($"{path}.{name}", "expected [token, id]");
                    return c.Int(e[1], $"{path}.{name}[1]");
                }
                int cls = Pair("cls"), sep = Pair("sep");
                // RoBERTa: <s> A </s> </s> B </s>, type ids all 0; BERT: [CLS] A [SEP] B [SEP] with B's part type 1.
                TemplateItem[] pair = type == "RobertaProcessing"
                    ? [TemplateItem.Special([cls]), TemplateItem.Seq(0, 0), TemplateItem.Special([sep, sep]), TemplateItem.Seq(1, 0), TemplateItem.Special([sep])]
                    : [TemplateItem.Special([cls]), TemplateItem.Seq(0, 0), TemplateItem.Special([sep]), TemplateItem.Seq(1, 1), TemplateItem.Special([sep], 1)];
                return new TemplatePostProcessor([cls], [sep], pair);
            }
            case "ByteLevel": return null; // offsets only
            case "Sequence":
            {
                var list = new List<IPostProcessor>();
                int i = 0;
                foreach (var e in c.Arr(c.Req(p, "processors", path), $"{path}.processors").EnumerateArray())
                    if (ReadPostProcessor(c, e, $"{path}.processors[{i++}]", added, model) is { } pp) list.Add(pp);
                return new SequencePostProcessor(list);
            }
            default: throw c.Error($"{path}.type", $"unsupported post-processor '{type}'");
        }
    }

    private static IDecoder ReadDecoder(Ctx c, JsonElement d, string path)
    {
        string type = c.Type(d, path);
        switch (type)
        {
            case "Sequence":
            {
                var list = new List<IDecoder>();
                int i = 0;
                foreach (var e in c.Arr(c.Req(d, "decoders", path), $"{path}.decoders").EnumerateArray())
                    list.Add(ReadDecoder(c, e, $"{path}.decoders[{i++}]"));
                return new SequenceDecoder(list);
            }
            case "ByteLevel": return new ByteLevelDecoder();
            case "Metaspace":
            {
                var (rep, scheme) = ReadMetaspace(c, d, path);
                return new MetaspaceDecoder(rep, scheme);
            }
            case "WordPiece": return new WordPieceDecoder(c.OptStr(d, "prefix", path) ?? "##", c.OptBool(d, "cleanup", path, true));
            case "ByteFallback": return new ByteFallbackDecoder();
            case "Fuse": return new FuseDecoder();
            case "Strip":
            {
                string content = c.ReqStr(d, "content", path);
                if (content.Length != 1) throw c.Error($"{path}.content", "expected one character");
                return new StripDecoder(content[0], c.Int(c.Req(d, "start", path), $"{path}.start"), c.Int(c.Req(d, "stop", path), $"{path}.stop"));
            }
            case "Replace":
            {
                var (lit, rx) = ReadPattern(c, d, path);
                return new ReplaceDecoder(lit, rx, c.ReqStr(d, "content", path));
            }
            case "BPEDecoder": return new BpeSuffixDecoder(c.OptStr(d, "suffix", path) ?? "</w>");
            default: throw c.Error($"{path}.type", $"unsupported decoder '{type}'");
        }
    }
}
