// Behaviour of the Tokenizer facade beyond the golden cases: hostile input (lone surrogates, controls, NUL, 1 MB
// strings), batches (padding side, truncation, attention masks), decoding rules, the PaliGemma processor's prompt
// layout on the stand-in, and a CLIP-style tokenizer.json (BPE with end_of_word_suffix, Split regex, BPEDecoder).
using System.Text;
using System.Text.Json;

namespace BatchVlm.Tokenizers.Tests;

public sealed class TokenizerTests
{
    public static TheoryData<string, string?> Folders => new()
    {
        { "bert-base-uncased", null }, { "gpt2", null }, { "opt", null }, { "t5", null }, { "t5", "spiece.model" },
        { "standin-gemma", null }, { "standin-paligemma", null }, { "standin-xlm-roberta", null },
    };

    private static Tokenizer Load(string folder, string? file) =>
        Tokenizer.FromFile(file is null ? Fixtures.Local(folder) : Path.Combine(Fixtures.Local(folder), file));

    [Theory]
    [MemberData(nameof(Folders))]
    public void Encode_LoneSurrogates_SameAsReplacementCharacter(string folder, string? file)
    {
        var tok = Load(folder, file);
        foreach (var (bad, good) in new[] { ("a\uD800b", "a\uFFFDb"), ("\uDC00", "\uFFFD"), ("x \uD83D", "x \uFFFD"), ("\uDE00\uD83D\uDE00", "\uFFFD\U0001F600") })
        {
            Assert.Equal(tok.Encode(good, true), tok.Encode(bad, true));
            Assert.Equal(tok.Encode(good, false), tok.Encode(bad, false));
        }
    }

    [Theory]
    [MemberData(nameof(Folders))]
    public void Encode_ControlCharactersNulAndOneMegabyte_DefinedAndFast(string folder, string? file)
    {
        var tok = Load(folder, file);
        string controls = "nul\0bel\a esc\u001b del\u007f c1\u0085 zw\u200b bom\ufeff \u0000\u0000";
        var ids = tok.Encode(controls, false);
        Assert.All(ids, id => Assert.NotNull(tok.IdToToken(id)));
        Assert.Equal(ids, tok.Encode(controls, false)); // deterministic

        var sb = new StringBuilder();
        var rng = new Random(7);
        string[] words = ["the", "cat", "Ünïcödé", "日本語", "😀", "naïve", "123456", "\t", "\n", "  ", "<bos>", "x\0y"];
        while (sb.Length < 1_000_000) sb.Append(words[rng.Next(words.Length)]).Append(rng.Next(4) == 0 ? "" : " ");
        string big = sb.ToString();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var bigIds = tok.Encode(big, false);
        Assert.True(bigIds.Length > 10_000);
        // One word of a million letters: no pre-tokenizer split, worst case for BPE merging.
        var oneWord = tok.Encode(new string('a', 1_000_000), false);
        Assert.NotEmpty(oneWord);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"1 MB inputs took {sw.Elapsed}");
        _ = tok.Decode(bigIds, true);
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("standin-gemma")]
    public void Decode_ByteLevelAndByteFallback_RoundTripAnyText(string folder)
    {
        var tok = Load(folder, null);
        string text = "nul\0 bel\a 日本語 😀👨‍👩‍👧 \uFFFD ﬁ  trailing  \n\r\n";
        Assert.Equal(text, tok.Decode(tok.Encode(text, false), true));
    }

    [Fact]
    public void Decode_InvalidByteFallbackSequence_GivesReplacementCharacterPerByte()
    {
        var tok = Load("standin-gemma", null);
        int b = tok.TokenToId("<0xE3>")!.Value, c = tok.TokenToId("<0x82>")!.Value, a = tok.TokenToId("a")!.Value;
        // sentencepiece: an invalid or truncated UTF-8 sequence gives one U+FFFD per byte.
        Assert.Equal("\uFFFD\uFFFDa", tok.Decode([b, c, a], true));
    }

    [Fact]
    public void Decode_SkipSpecialTokens_KeepsPaliGemmaLocTokens()
    {
        var tok = Load("standin-paligemma", null);
        var ids = tok.Encode("<loc0100><seg005> cat", true);
        Assert.Equal(tok.BosTokenId, ids[0]);
        Assert.Equal("<loc0100><seg005> cat", tok.Decode(ids, skipSpecialTokens: true));
        Assert.Equal("<bos><loc0100><seg005> cat", tok.Decode(ids, skipSpecialTokens: false));
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.Decode([999_999], true));
    }

    [Fact]
    public void Encode_PaliGemmaProcessorLayout_MatchesProcessorCases()
    {
        // PaliGemmaProcessor: "<image>" * image_seq_length + "<bos>" + prompt + "\n", then suffix + "<eos>" as the pair,
        // with add_bos_token = add_eos_token = False (processor_cases.jsonl from transformers 4.46.1).
        var folder = Fixtures.Local("standin-paligemma");
        var tok = Tokenizer.FromFile(folder);
        int n = 0;
        foreach (var line in File.ReadLines(Path.Combine(folder, "processor_cases.jsonl")))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            string prompt = r.GetProperty("prompt").GetString()!;
            int seq = r.GetProperty("image_seq_length").GetInt32();
            var ids = tok.Encode(string.Concat(Enumerable.Repeat("<image>", seq)) + "<bos>" + prompt + "\n", false).ToList();
            if (r.GetProperty("suffix").ValueKind == JsonValueKind.String)
                ids.AddRange(tok.Encode(r.GetProperty("suffix").GetString()! + "<eos>", false));
            var expected = r.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.True(expected.SequenceEqual(ids), $"{r.GetProperty("case").GetString()}: prompt {JsonSerializer.Serialize(prompt)}");
            n++;
        }
        Assert.True(n > 0);
    }

    [Fact]
    public void EncodePair_PaliGemmaPrefixAndSuffix_MatchesProcessorTokenTypeIds()
    {
        // The processor calls tokenizer(prefix, text_pair=suffix + "<eos>") with add_bos_token = add_eos_token = False:
        // ids = A + B, token_type_ids 0 for the prefix and 1 for the suffix.
        var folder = Fixtures.Local("standin-paligemma");
        var tok = Tokenizer.FromFile(folder);
        int n = 0;
        foreach (var line in File.ReadLines(Path.Combine(folder, "processor_cases.jsonl")))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            if (r.GetProperty("suffix").ValueKind != JsonValueKind.String) continue;
            string prefix = string.Concat(Enumerable.Repeat("<image>", r.GetProperty("image_seq_length").GetInt32())) + "<bos>" + r.GetProperty("prompt").GetString() + "\n";
            var enc = tok.EncodePair(prefix, r.GetProperty("suffix").GetString() + "<eos>", addSpecialTokens: false);
            Assert.Equal(r.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()), enc.InputIds);
            Assert.Equal(r.GetProperty("token_type_ids").EnumerateArray().Select(e => e.GetInt32()), enc.TokenTypeIds);
            n++;
        }
        Assert.True(n > 0);
    }

    [Theory]
    [InlineData("bert-base-uncased", null, new[] { 101, 7592, 102, 2088, 102 }, new[] { 0, 0, 0, 1, 1 })]
    [InlineData("bert-base-uncased", "vocab.txt", new[] { 101, 7592, 102, 2088, 102 }, new[] { 0, 0, 0, 1, 1 })]
    [InlineData("t5", null, new[] { 21820, 1, 296, 1 }, new[] { 0, 0, 0, 0 })]
    [InlineData("t5", "spiece.model", new[] { 21820, 1, 296, 1 }, new[] { 0, 0, 0, 0 })]
    public void EncodePair_WithSpecialTokens_UsesTheModelsPairTemplate(string folder, string? file, int[] ids, int[] types)
    {
        var tok = Load(folder, file);
        var enc = tok.EncodePair("hello", "world");
        Assert.Equal(ids, enc.InputIds);
        Assert.Equal(types, enc.TokenTypeIds);
    }

    [Fact]
    public void EncodePair_XlmRobertaAndGemma_FollowTheirClasses()
    {
        var x = Load("standin-xlm-roberta", null);
        var a = x.Encode("hello", false); var b = x.Encode("world", false);
        var enc = x.EncodePair("hello", "world");
        Assert.Equal(new[] { 0 }.Concat(a).Concat([2, 2]).Concat(b).Append(2), enc.InputIds);
        Assert.All(enc.TokenTypeIds, t => Assert.Equal(0, t));
        var g = Load("standin-gemma", null);
        a = g.Encode("hello", false); b = g.Encode("world", false);
        enc = g.EncodePair("hello", "world");
        Assert.Equal(new[] { 2 }.Concat(a).Append(2).Concat(b), enc.InputIds);
        Assert.Equal(Enumerable.Repeat(0, a.Length + 1).Concat(Enumerable.Repeat(1, b.Length + 1)), enc.TokenTypeIds);
    }

    [Fact]
    public void EncodeBatch_PaddingAndTruncation_FollowTransformers()
    {
        var tok = Load("bert-base-uncased", null);
        string[] texts = ["hello world", "a much longer sentence about a cat on a red sofa", ""];
        var right = tok.EncodeBatch(texts);
        int longest = tok.Encode(texts[1]).Length;
        Assert.All(right.InputIds, r => Assert.Equal(longest, r.Length));
        Assert.Equal([101, 7592, 2088, 102], right.InputIds[0][..4]);
        Assert.Equal(0, right.InputIds[0][^1]); // [PAD]
        Assert.Equal([1, 1, 1, 1, 0], right.AttentionMask[0][..5]);
        Assert.Equal([101, 102], right.InputIds[2][..2]);

        var left = tok.EncodeBatch(texts, new BatchEncodingOptions { PaddingSide = Side.Left });
        Assert.Equal([101, 7592, 2088, 102], left.InputIds[0][^4..]);
        Assert.Equal(0, left.AttentionMask[0][0]);
        Assert.Equal(right.InputIds[1], left.InputIds[1]);

        var truncated = tok.EncodeBatch(texts, new BatchEncodingOptions { MaxLength = 5, Padding = PaddingStrategy.MaxLength });
        Assert.All(truncated.InputIds, r => Assert.Equal(5, r.Length));
        Assert.Equal(tok.Encode(texts[1])[..4].Append(102), truncated.InputIds[1]); // specials kept, content cut on the right
        var truncLeft = tok.EncodeBatch(texts, new BatchEncodingOptions { MaxLength = 5, TruncationSide = Side.Left, Padding = PaddingStrategy.None });
        var content = tok.Encode(texts[1], false);
        Assert.Equal(new[] { 101 }.Concat(content[^3..]).Append(102), truncLeft.InputIds[1]);
        Assert.Equal(4, truncLeft.InputIds[0].Length);

        var multiple = tok.EncodeBatch(texts, new BatchEncodingOptions { PadToMultipleOf = 8 });
        Assert.Equal(0, multiple.InputIds[0].Length % 8);
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.EncodeBatch(texts, new BatchEncodingOptions { MaxLength = 1 }));
        Assert.Throws<InvalidOperationException>(() => Load("gpt2", null).EncodeBatch(texts)); // GPT-2 has no pad token
    }

    [Fact]
    public void SpecialTokenIds_PerFamily_AsTransformersDefines()
    {
        var gemma = Load("standin-gemma", null);
        Assert.Equal((2, 1, 0, 3), (gemma.BosTokenId, gemma.EosTokenId, gemma.PadTokenId, gemma.UnkTokenId));
        var xlmr = Load("standin-xlm-roberta", null);
        Assert.Equal((0, 2, 1, 3), (xlmr.BosTokenId, xlmr.EosTokenId, xlmr.PadTokenId, xlmr.UnkTokenId));
        Assert.Equal(2985, xlmr.TokenToId("<mask>"));
        var t5 = Load("t5", null);
        Assert.Equal((1, 0, 2), (t5.EosTokenId, t5.PadTokenId, t5.UnkTokenId));
        Assert.Equal(32099, t5.TokenToId("<extra_id_0>"));
        var opt = Load("opt", null);
        Assert.Equal((2, 2, 1), (opt.BosTokenId, opt.EosTokenId, opt.PadTokenId));
        Assert.Equal([2], opt.Encode("", true));
    }

    private const string ClipJson = """
    {
      "version": "1.0",
      "added_tokens": [
        {"id": 0, "content": "<|startoftext|>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
        {"id": 1, "content": "<|endoftext|>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false}
      ],
      "normalizer": {"type": "Sequence", "normalizers": [
        {"type": "NFC"}, {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}, {"type": "Lowercase"}]},
      "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+"}, "behavior": "Removed", "invert": true},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},
      "post_processor": {"type": "RobertaProcessing", "sep": ["<|endoftext|>", 1], "cls": ["<|startoftext|>", 0], "trim_offsets": false, "add_prefix_space": false},
      "decoder": {"type": "BPEDecoder", "suffix": "</w>"},
      "model": {"type": "BPE", "dropout": null, "unk_token": "<|endoftext|>", "continuing_subword_prefix": "", "end_of_word_suffix": "</w>",
        "fuse_unk": false, "byte_fallback": false,
        "vocab": {"<|startoftext|>": 0, "<|endoftext|>": 1, "a": 2, "b": 3, "c": 4, "a</w>": 5, "b</w>": 6, "c</w>": 7,
                  "ab": 8, "ab</w>": 9, "abc</w>": 10, "!</w>": 11, "1</w>": 12},
        "merges": ["a b", "ab c</w>", "a b</w>"]}
    }
    """;

    [Fact]
    public void Encode_ClipStyleBpeWithEndOfWordSuffix_MergesAndDecodes()
    {
        string dir = Directory.CreateTempSubdirectory("clip-tok").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), ClipJson);
            var tok = Tokenizer.FromFile(dir);
            Assert.Equal([0, 10, 9, 11, 12, 1], tok.Encode("ABC   ab!1", true));
            Assert.Equal([10, 1, 9], tok.Encode("abc<|endoftext|>ab", false));
            Assert.Equal([1], tok.Encode("z", false)); // unknown character → unk
            // 𝐀 (U+1D400) is a letter for the Split regex, as in Rust: "a𝐀b" stays one word (a, 4 unknown bytes, b</w>).
            Assert.Equal([2, 1, 1, 1, 1, 6], tok.Encode("a\U0001D400b", false));
            Assert.Equal("abc ab ! 1", tok.Decode([0, 10, 9, 11, 12, 1], true));
        }
        finally { Directory.Delete(dir, true); }
    }
}
