// What transformers reads beside the vocabulary: tokenizer_config.json (tokenizer_class, bos/eos/unk/pad/cls/sep/mask,
// add_bos_token/add_eos_token, additional_special_tokens, added_tokens_decoder, clean_up_tokenization_spaces, legacy,
// padding/truncation side, model_max_length) and special_tokens_map.json. A BatchVlm fixture `settings.json`
// ({"cls": ..., "kwargs": {...}, "special_tokens": {...}}: the class and kwargs the golden files were made with) is
// read the same way when there is no tokenizer_config.json.
using System.Text.Json;

namespace BatchVlm.Tokenizers;

/// <summary>The tokenizer_config.json settings that change ids or decoded text. Null = not given (class default).</summary>
public sealed record TokenizerConfig
{
    public string? TokenizerClass { get; init; }
    public AddedToken? BosToken { get; init; }
    public AddedToken? EosToken { get; init; }
    public AddedToken? UnkToken { get; init; }
    public AddedToken? PadToken { get; init; }
    public AddedToken? ClsToken { get; init; }
    public AddedToken? SepToken { get; init; }
    public AddedToken? MaskToken { get; init; }
    public IReadOnlyList<AddedToken> AdditionalSpecialTokens { get; init; } = [];
    /// <summary>added_tokens_decoder (ids given).</summary>
    public IReadOnlyList<AddedToken> AddedTokensDecoder { get; init; } = [];
    public bool? AddBosToken { get; init; }
    public bool? AddEosToken { get; init; }
    public bool? AddPrefixSpace { get; init; }
    public bool? CleanUpTokenizationSpaces { get; init; }
    public bool? Legacy { get; init; }
    public bool? DoLowerCase { get; init; }
    public int? ExtraIds { get; init; }
    public string? PaddingSide { get; init; }
    public string? TruncationSide { get; init; }
    public long? ModelMaxLength { get; init; }

    /// <summary>Class name without the Fast suffix, e.g. "Gemma", "T5", "XLMRoberta", "GPT2", "Bert", "CLIP".</summary>
    public string? Family => TokenizerClass is null ? null
        : TokenizerClass.Replace("TokenizerFast", "", StringComparison.Ordinal).Replace("Tokenizer", "", StringComparison.Ordinal);

    /// <summary>Reads the config files in <paramref name="folder"/>; an empty config when there are none.</summary>
    public static TokenizerConfig Load(string folder)
    {
        string cfg = Path.Combine(folder, "tokenizer_config.json");
        string map = Path.Combine(folder, "special_tokens_map.json");
        string settings = Path.Combine(folder, "settings.json");
        var config = new TokenizerConfig();
        if (File.Exists(cfg)) config = Parse(File.ReadAllText(cfg), cfg, config, isSettings: false);
        else if (File.Exists(settings)) config = Parse(File.ReadAllText(settings), settings, config, isSettings: true);
        if (File.Exists(map)) config = ParseSpecialTokensMap(File.ReadAllText(map), map, config);
        return config;
    }

    internal static TokenizerConfig Parse(string json, string source, TokenizerConfig baseConfig, bool isSettings)
    {
        using var doc = ClassicFiles.ParseJson(json, source, allowTrailingCommas: true);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(source, "$", "expected a JSON object");
        string prefix = "$";
        var c = baseConfig;
        if (isSettings)
        {
            if (root.TryGetProperty("cls", out var cls) && cls.ValueKind == JsonValueKind.String) c = c with { TokenizerClass = cls.GetString() };
            if (root.TryGetProperty("special_tokens", out var st) && st.ValueKind == JsonValueKind.Object &&
                st.TryGetProperty("additional_special_tokens", out var ast) && ast.ValueKind == JsonValueKind.Array)
            {
                var list = new List<AddedToken>();
                int i = 0;
                foreach (var e in ast.EnumerateArray())
                {
                    if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() != 2 || e[0].ValueKind != JsonValueKind.String || e[1].ValueKind != JsonValueKind.Number)
                        throw new TokenizerFormatException(source, $"$.special_tokens.additional_special_tokens[{i}]", "expected [content, id]");
                    list.Add(new AddedToken(e[0].GetString()!, e[1].GetInt32(), Special: true));
                    i++;
                }
                c = c with { AddedTokensDecoder = list };
            }
            if (!root.TryGetProperty("kwargs", out root)) return c;
            prefix = "$.kwargs";
        }
        else if (root.TryGetProperty("tokenizer_class", out var tc))
            c = c with { TokenizerClass = tc.ValueKind == JsonValueKind.String ? tc.GetString() : null };

        AddedToken? Tok(string name, AddedToken? old) =>
            root.TryGetProperty(name, out var e) ? ReadToken(e, -1, source, $"{prefix}.{name}", special: true) ?? old : old;
        bool? Bool(string name, bool? old)
        {
            if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return old;
            if (e.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                throw new TokenizerFormatException(source, $"{prefix}.{name}", $"expected true or false, got {e.ValueKind}");
            return e.GetBoolean();
        }
        string? Str(string name, string? old) => root.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : old;

        c = c with
        {
            BosToken = Tok("bos_token", c.BosToken), EosToken = Tok("eos_token", c.EosToken),
            UnkToken = Tok("unk_token", c.UnkToken), PadToken = Tok("pad_token", c.PadToken),
            ClsToken = Tok("cls_token", c.ClsToken), SepToken = Tok("sep_token", c.SepToken),
            MaskToken = Tok("mask_token", c.MaskToken),
            AddBosToken = Bool("add_bos_token", c.AddBosToken), AddEosToken = Bool("add_eos_token", c.AddEosToken),
            AddPrefixSpace = Bool("add_prefix_space", c.AddPrefixSpace),
            CleanUpTokenizationSpaces = Bool("clean_up_tokenization_spaces", c.CleanUpTokenizationSpaces),
            Legacy = Bool("legacy", c.Legacy), DoLowerCase = Bool("do_lower_case", c.DoLowerCase),
            PaddingSide = Str("padding_side", c.PaddingSide), TruncationSide = Str("truncation_side", c.TruncationSide),
        };
        if (root.TryGetProperty("extra_ids", out var x) && x.ValueKind == JsonValueKind.Number) c = c with { ExtraIds = x.GetInt32() };
        if (root.TryGetProperty("model_max_length", out var mml) && mml.ValueKind == JsonValueKind.Number && mml.TryGetInt64(out long ml))
            c = c with { ModelMaxLength = ml };
        if (root.TryGetProperty("additional_special_tokens", out var add) && add.ValueKind == JsonValueKind.Array)
        {
            var list = new List<AddedToken>();
            int i = 0;
            foreach (var e in add.EnumerateArray())
            {
                var t = ReadToken(e, -1, source, $"{prefix}.additional_special_tokens[{i++}]", special: true);
                if (t != null) list.Add(t);
            }
            c = c with { AdditionalSpecialTokens = list };
        }
        if (root.TryGetProperty("added_tokens_decoder", out var atd) && atd.ValueKind == JsonValueKind.Object)
        {
            var list = new List<AddedToken>();
            foreach (var p in atd.EnumerateObject())
            {
                if (!int.TryParse(p.Name, out int id))
                    throw new TokenizerFormatException(source, $"{prefix}.added_tokens_decoder.{p.Name}", "key is not an integer id");
                var t = ReadToken(p.Value, id, source, $"{prefix}.added_tokens_decoder.{p.Name}", special: false);
                if (t != null) list.Add(t);
            }
            c = c with { AddedTokensDecoder = list };
        }
        return c;
    }

    private static TokenizerConfig ParseSpecialTokensMap(string json, string source, TokenizerConfig c)
    {
        // special_tokens_map.json only fills what tokenizer_config.json left out.
        var m = Parse(json, source, new TokenizerConfig(), isSettings: false);
        return c with
        {
            BosToken = c.BosToken ?? m.BosToken, EosToken = c.EosToken ?? m.EosToken, UnkToken = c.UnkToken ?? m.UnkToken,
            PadToken = c.PadToken ?? m.PadToken, ClsToken = c.ClsToken ?? m.ClsToken, SepToken = c.SepToken ?? m.SepToken,
            MaskToken = c.MaskToken ?? m.MaskToken,
            AdditionalSpecialTokens = c.AdditionalSpecialTokens.Count > 0 ? c.AdditionalSpecialTokens : m.AdditionalSpecialTokens,
        };
    }

    /// <summary>A token given as a string or as {"content": ..., "lstrip": ..., ...} (AddedToken serialization).</summary>
    internal static AddedToken? ReadToken(JsonElement e, int id, string source, string path, bool special)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Null: return null;
            case JsonValueKind.String: return new AddedToken(e.GetString()!, id, special);
            case JsonValueKind.Object:
                if (!e.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                    throw new TokenizerFormatException(source, $"{path}.content", "missing or not a string");
                bool B(string n, bool d) => e.TryGetProperty(n, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : d;
                return new AddedToken(content.GetString()!, id, B("special", special), B("lstrip", false), B("rstrip", false),
                    B("single_word", false), B("normalized", !special));
            default:
                throw new TokenizerFormatException(source, path, $"expected a string or an AddedToken object, got {e.ValueKind}");
        }
    }
}
