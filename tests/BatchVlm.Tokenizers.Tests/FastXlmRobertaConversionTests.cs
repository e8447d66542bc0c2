// AltCLIP ships XLM-R's tokenizer.json (Unigram), not only sentencepiece.bpe.model. This test builds that
// tokenizer.json from the stand-in .model the way transformers 4.46's XLMRobertaConverter does (convert_slow_tokenizer.py:
// vocab <s> <pad> </s> <unk> + pieces[3:] + <mask>, unk_id 3; normalizer Precompiled + Strip(right) +
// Replace(" {2,}", "▁"); Metaspace(prepend_scheme always); template "<s> $A </s>"; decoder Metaspace) and checks the
// tokenizer.json path against the golden cases made by the slow class.
using System.Text.Json.Nodes;
using BatchVlm.Tokenizers.SentencePiece;

namespace BatchVlm.Tokenizers.Tests;

public sealed class FastXlmRobertaConversionTests
{
    [Theory]
    [InlineData("standin-xlm-roberta")]
    [InlineData("xlm-roberta")]
    public void Encode_ConvertedTokenizerJson_MatchesEveryGoldenCase(string folder)
    {
        string? src = folder == "xlm-roberta" ? Fixtures.Shared(folder) : Fixtures.Local(folder);
        if (src is null) Assert.Skip("shared fixtures folder (../shared/fixtures/tokenizers/xlm-roberta, 5.5 MB model) is absent");
        string modelPath = Path.Combine(src, "sentencepiece.bpe.model");
        var proto = SentencePieceModelProto.Parse(File.ReadAllBytes(modelPath), modelPath);
        var vocab = new JsonArray(new JsonArray("<s>", 0.0), new JsonArray("<pad>", 0.0), new JsonArray("</s>", 0.0), new JsonArray("<unk>", 0.0));
        foreach (var p in proto.Pieces.Skip(3)) vocab.Add(new JsonArray(p.Piece, (double)p.Score));
        vocab.Add(new JsonArray("<mask>", 0.0));
        int mask = vocab.Count - 1;
        JsonObject Added(int id, string content, bool lstrip) => new()
        {
            ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = lstrip, ["rstrip"] = false,
            ["normalized"] = false, ["special"] = true,
        };
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(Added(0, "<s>", false), Added(1, "<pad>", false), Added(2, "</s>", false), Added(3, "<unk>", false), Added(mask, "<mask>", true)),
            ["normalizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["normalizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Precompiled", ["precompiled_charsmap"] = Convert.ToBase64String(proto.PrecompiledCharsMap) },
                    new JsonObject { ["type"] = "Strip", ["strip_left"] = false, ["strip_right"] = true },
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["Regex"] = " {2,}" }, ["content"] = "\u2581" }),
            },
            ["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "\u2581", ["prepend_scheme"] = "always", ["split"] = true },
            ["post_processor"] = new JsonObject { ["type"] = "RobertaProcessing", ["sep"] = new JsonArray("</s>", 2), ["cls"] = new JsonArray("<s>", 0), ["trim_offsets"] = true, ["add_prefix_space"] = true },
            ["decoder"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "\u2581", ["prepend_scheme"] = "always", ["split"] = true },
            ["model"] = new JsonObject { ["type"] = "Unigram", ["unk_id"] = 3, ["vocab"] = vocab, ["byte_fallback"] = false },
        };
        string dir = Directory.CreateTempSubdirectory("xlmr-fast").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), root.ToJsonString());
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """
                {"tokenizer_class": "XLMRobertaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
                 "cls_token": "<s>", "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>", "clean_up_tokenization_spaces": false}
                """);
            var tok = Tokenizer.FromFile(dir);
            Assert.StartsWith("tokenizer.json (Unigram)", tok.Description);
            GoldenCasesTests.AssertAllCases(tok, src);
        }
        finally { Directory.Delete(dir, true); }
    }
}
