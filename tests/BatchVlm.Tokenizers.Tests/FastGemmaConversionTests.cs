// Real PaliGemma/Gemma checkpoints ship tokenizer.json (BPE + byte_fallback), not only tokenizer.model. This test
// builds that tokenizer.json from the stand-in .model the way transformers 4.46's GemmaConverter does
// (convert_slow_tokenizer.py: SentencePieceExtractor merges ordered by piece score, normalizer Replace(" ", "▁"),
// BPE(fuse_unk, byte_fallback), decoder Replace/ByteFallback/Fuse, template "<bos> $A", USER_DEFINED pieces as added
// tokens) and checks the tokenizer.json path against the same golden cases as the .model path.
using System.Text.Json;
using System.Text.Json.Nodes;
using BatchVlm.Tokenizers.SentencePiece;

namespace BatchVlm.Tokenizers.Tests;

public sealed class FastGemmaConversionTests
{
    internal static string ConvertGemma(string modelPath, IEnumerable<(string Content, int Id, bool Special)> extraAdded)
    {
        var proto = SentencePieceModelProto.Parse(File.ReadAllBytes(modelPath), modelPath);
        var pieces = proto.Pieces;
        var vocab = new Dictionary<string, int>();
        for (int i = 0; i < pieces.Count; i++) vocab[pieces[i].Piece] = i;
        // SentencePieceExtractor.extract(vocab_scores): for each piece, every split into two vocab pieces, sorted by
        // (id(left), id(right)); then all merges stably sorted by the piece's score, descending.
        var merges = new List<(string L, string R, float Score, int Order)>();
        int order = 0;
        foreach (var p in pieces)
        {
            var local = new List<(string, string)>();
            var runes = p.Piece.EnumerateRunes().Select(r => r.ToString()).ToArray();
            for (int k = 1; k < runes.Length; k++)
            {
                string l = string.Concat(runes[..k]), r = string.Concat(runes[k..]);
                if (vocab.ContainsKey(l) && vocab.ContainsKey(r)) local.Add((l, r));
            }
            foreach (var (l, r) in local.OrderBy(x => vocab[x.Item1]).ThenBy(x => vocab[x.Item2]))
                merges.Add((l, r, p.Score, order++));
        }
        var sorted = merges.OrderByDescending(m => m.Score).ThenBy(m => m.Order).Select(m => (JsonNode)new JsonArray(m.L, m.R)).ToArray();
        var vocabObj = new JsonObject();
        foreach (var (k, v) in vocab) vocabObj[k] = v;
        var added = new JsonArray();
        // GemmaConverter: <pad> <eos> <bos> <unk> as special added tokens, USER_DEFINED pieces as non-special ones
        // (other CONTROL pieces such as <mask> are not added, so their text is split like any text).
        string[] specials = ["<pad>", "<eos>", "<bos>", "<unk>"];
        for (int i = 0; i < pieces.Count; i++)
            if (specials.Contains(pieces[i].Piece) || pieces[i].Type == PieceType.UserDefined)
                added.Add(new JsonObject
                {
                    ["id"] = i, ["content"] = pieces[i].Piece, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                    ["normalized"] = false, ["special"] = pieces[i].Type != PieceType.UserDefined,
                });
        foreach (var (content, id, special) in extraAdded)
            added.Add(new JsonObject { ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = special });
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = added,
            ["normalizer"] = new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "\u2581" },
            ["pre_tokenizer"] = null,
            ["post_processor"] = JsonNode.Parse("""
                {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                 "pair": [], "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}}}
                """),
            ["decoder"] = JsonNode.Parse("""
                {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                 {"type": "ByteFallback"}, {"type": "Fuse"}]}
                """),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = "<unk>", ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null, ["fuse_unk"] = true, ["byte_fallback"] = true, ["ignore_merges"] = false,
                ["vocab"] = vocabObj, ["merges"] = new JsonArray(sorted),
            },
        };
        return root.ToJsonString();
    }

    [Theory]
    [InlineData("standin-gemma")]
    [InlineData("standin-paligemma")]
    public void Encode_ConvertedTokenizerJson_MatchesEveryGoldenCase(string folder)
    {
        string src = Fixtures.Local(folder);
        string dir = Directory.CreateTempSubdirectory("gemma-fast").FullName;
        try
        {
            var extra = folder == "standin-paligemma" ? new[] { ("<image>", 3783, true) } : [];
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), ConvertGemma(Path.Combine(src, "tokenizer.model"), extra));
            // The kwargs the golden cases were made with (settings.json): Gemma adds <start_of_turn>/<end_of_turn> as
            // special, the PaliGemma stand-in only <image>.
            string additional = folder == "standin-paligemma" ? "[\"<image>\"]" : "[\"<start_of_turn>\", \"<end_of_turn>\"]";
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), $$"""
                {"tokenizer_class": "GemmaTokenizer", "bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>",
                 "pad_token": "<pad>", "add_bos_token": true, "add_eos_token": false, "clean_up_tokenization_spaces": false,
                 "additional_special_tokens": {{additional}}}
                """);
            var tok = Tokenizer.FromFile(dir);
            Assert.StartsWith("tokenizer.json (Bpe)", tok.Description);
            GoldenCasesTests.AssertAllCases(tok, src);
        }
        finally { Directory.Delete(dir, true); }
    }
}
