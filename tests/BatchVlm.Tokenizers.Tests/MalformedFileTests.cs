// A tokenizer file that cannot be used fails at load with TokenizerFormatException naming the field (JSON path or
// protobuf path) and the reason; nothing is silently guessed.
namespace BatchVlm.Tokenizers.Tests;

public sealed class MalformedFileTests
{
    private static TokenizerFormatException LoadJson(string json)
    {
        string dir = Directory.CreateTempSubdirectory("bad-tok").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json);
            return Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromFile(dir));
        }
        finally { Directory.Delete(dir, true); }
    }

    private const string Bpe = """{"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}""";

    [Theory]
    [InlineData("""{"added_tokens": []}""", "$.model", "missing")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}}""", "$.model.vocab[\"a\"]", "integer")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}""", "$.model.merges[0]", "'ab'")]
    [InlineData("""{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "b": 2000000000}}}""", "$.model.vocab[\"b\"]", "far beyond")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [7]}}""", "$.model.merges[0]", "expected")]
    [InlineData("""{"model": {"type": "Unigram", "vocab": [["a", -1.0]], "unk_id": 5}}""", "$.model.unk_id", "outside")]
    [InlineData("""{"model": {"type": "Unigram", "vocab": [["a"]], "unk_id": 0}}""", "$.model.vocab[0]", "[piece, score]")]
    [InlineData("""{"model": {"type": "Magic"}}""", "$.model.type", "unsupported")]
    [InlineData("""{"normalizer": {"type": "Frobnicate"}, "model": MODEL}""", "$.normalizer.type", "unsupported")]
    [InlineData("""{"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"kind": 1}]}, "model": MODEL}""", "$.normalizer.normalizers[1].type", "missing")]
    [InlineData("""{"normalizer": {"type": "Precompiled", "precompiled_charsmap": "%%%"}, "model": MODEL}""", "$.normalizer.precompiled_charsmap", "base64")]
    [InlineData("""{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}, "model": MODEL}""", "$.pre_tokenizer.pattern.Regex", "invalid regex")]
    [InlineData("""{"pre_tokenizer": {"type": "Metaspace", "prepend_scheme": "sometimes"}, "model": MODEL}""", "$.pre_tokenizer.prepend_scheme", "always")]
    [InlineData("""{"added_tokens": [{"id": 0}], "model": MODEL}""", "$.added_tokens[0].content", "missing")]
    [InlineData("""{"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}], "special_tokens": {}}, "model": MODEL}""", "$.post_processor.single[0].SpecialToken.id", "not listed")]
    [InlineData("""{"decoder": {"type": "Strip", "content": "ab", "start": 1, "stop": 0}, "model": MODEL}""", "$.decoder.content", "one character")]
    [InlineData("""{"model": MODEL,""", "$ (line", "")]
    public void FromFile_MalformedTokenizerJson_ErrorNamesTheField(string json, string field, string reason)
    {
        var e = LoadJson(json.Replace("MODEL", Bpe));
        Assert.StartsWith(field, e.Field);
        Assert.Contains(reason, e.Reason);
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void FromFile_TruncatedSentencePieceModel_ErrorNamesTheField()
    {
        byte[] good = File.ReadAllBytes(Path.Combine(Fixtures.Local("standin-gemma"), "tokenizer.model"));
        string dir = Directory.CreateTempSubdirectory("bad-spm").FullName;
        try
        {
            string path = Path.Combine(dir, "tokenizer.model");
            File.WriteAllBytes(path, good[..(good.Length / 2)]);
            var e = Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromFile(path));
            Assert.StartsWith("ModelProto.", e.Field);
            File.WriteAllBytes(path, "this is not a protobuf file at all"u8.ToArray());
            e = Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromFile(path));
            Assert.StartsWith("ModelProto", e.Field);
            File.WriteAllBytes(path, []);
            e = Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromFile(path));
            Assert.Equal("ModelProto.pieces", e.Field);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void FromFile_MalformedMergesAndConfig_ErrorNamesLineOrField()
    {
        string dir = Directory.CreateTempSubdirectory("bad-gpt2").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "vocab.json"), """{"a": 0, "b": 1, "ab": 2}""");
            File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\na b\nthree parts here\n");
            var e = Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromFile(dir));
            Assert.Equal("line 3", e.Field);
            File.WriteAllText(Path.Combine(dir, "merges.txt"), "a b\n");
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"add_bos_token": "yes"}""");
            e = Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromFile(dir));
            Assert.Equal("$.add_bos_token", e.Field);
            Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromFile(Path.Combine(dir, "missing-folder-is-not-here", "..")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void FromFile_BertVocabWithoutSep_ErrorNamesTheToken()
    {
        string dir = Directory.CreateTempSubdirectory("bad-bert").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "vocab.txt"), "[PAD]\n[UNK]\n[CLS]\nhello\n");
            var e = Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromFile(dir));
            Assert.Equal("sep_token", e.Field);
            Assert.Contains("'[SEP]'", e.Reason);
        }
        finally { Directory.Delete(dir, true); }
    }
}
