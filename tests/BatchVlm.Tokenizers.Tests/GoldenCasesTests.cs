// Every case of every golden tokenizer folder (cases.jsonl, made by transformers 4.46.1 slow tokenizers and
// sentencepiece 0.1.97; see tests/fixtures/tokenizers/README.md) must give exactly the same `ids`,
// `ids_no_special` and `decoded` (skip_special_tokens=True). One test per folder; a failure lists the first
// mismatching cases with the text, expected and actual values.
using System.Text;
using System.Text.Json;

namespace BatchVlm.Tokenizers.Tests;

public sealed class GoldenCasesTests
{
    internal static string Describe(Fixtures.Case c, string field, object expected, object actual, Tokenizer tok)
    {
        static string J(object o) => JsonSerializer.Serialize(o, new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        var sb = new StringBuilder();
        sb.Append($"  {c.Id} [{c.Category}] {field}: text={J(c.Text)}\n    expected {J(expected)}\n    actual   {J(actual)}");
        if (field != "decoded")
        {
            var actualTokens = tok.Encode(c.Text, false).Select(i => tok.IdToToken(i) ?? "?").ToArray();
            sb.Append($"\n    expected tokens {J(c.Tokens)}\n    actual tokens   {J(actualTokens)}");
        }
        return sb.ToString();
    }

    internal static void AssertAllCases(Tokenizer tok, string folder)
    {
        var cases = Fixtures.ReadCases(folder);
        var failures = new List<string>();
        int matched = 0;
        foreach (var c in cases)
        {
            int before = failures.Count;
            var ids = tok.Encode(c.Text, addSpecialTokens: true);
            if (!ids.SequenceEqual(c.Ids)) failures.Add(Describe(c, "ids", c.Ids, ids, tok));
            var noSpecial = tok.Encode(c.Text, addSpecialTokens: false);
            if (!noSpecial.SequenceEqual(c.IdsNoSpecial)) failures.Add(Describe(c, "ids_no_special", c.IdsNoSpecial, noSpecial, tok));
            var decoded = tok.Decode(c.Ids, skipSpecialTokens: true);
            if (decoded != c.Decoded) failures.Add(Describe(c, "decoded", c.Decoded, decoded, tok));
            if (failures.Count == before) matched++;
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"{tok.Description}: {matched}/{cases.Count} cases match");
        Assert.True(failures.Count == 0,
            $"{tok.Description} ({folder}): {cases.Count - matched} of {cases.Count} cases differ; first mismatches:\n" + string.Join("\n", failures.Take(8)));
    }

    /// <summary>The fixture folders copied into tests/fixtures (the ones a fresh clone always has).</summary>
    public static TheoryData<string> CopiedFolders() =>
        ["bert-base-uncased", "gpt2", "opt", "t5", "standin-gemma", "standin-paligemma", "standin-xlm-roberta"];

    [Theory]
    [MemberData(nameof(CopiedFolders))]
    public void Encode_CopiedFixtureFolder_MatchesEveryGoldenCase(string folder)
    {
        var path = Fixtures.Local(folder);
        AssertAllCases(Tokenizer.FromFile(path), path);
    }

    [Theory]
    [MemberData(nameof(CopiedFolders))]
    public void Decode_CleanUpTokenizationSpaces_MatchesDecodedWithCleanup(string folder)
    {
        // decoded_with_cleanup = tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=True): what
        // hub configs written by older transformers (clean_up_tokenization_spaces: true) produce.
        var path = Fixtures.Local(folder);
        var tok = Tokenizer.FromFile(path);
        var failures = new List<string>();
        foreach (var line in File.ReadLines(Path.Combine(path, "cases.jsonl")))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            var ids = r.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            string expected = r.GetProperty("decoded_with_cleanup").GetString()!;
            string actual = tok.Decode(ids, skipSpecialTokens: true, cleanUpTokenizationSpaces: true);
            if (actual != expected)
                failures.Add($"  {r.GetProperty("case").GetString()}: expected {JsonSerializer.Serialize(expected)}\n    actual   {JsonSerializer.Serialize(actual)}");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} cases differ:\n" + string.Join("\n", failures.Take(8)));
    }

    [Fact]
    public void Encode_T5SentencePieceModel_MatchesEveryGoldenCase()
    {
        var path = Fixtures.Local("t5");
        AssertAllCases(Tokenizer.FromFile(Path.Combine(path, "spiece.model")), path);
    }

    [Fact]
    public void Encode_BertVocabTxt_MatchesEveryGoldenCase()
    {
        var path = Fixtures.Local("bert-base-uncased");
        AssertAllCases(Tokenizer.FromFile(Path.Combine(path, "vocab.txt")), path);
    }

    [Fact]
    public void Encode_XlmRobertaSharedFixture_MatchesEveryGoldenCase()
    {
        var path = Fixtures.Shared("xlm-roberta");
        if (path is null) Assert.Skip("shared fixtures folder (../shared/fixtures/tokenizers/xlm-roberta, 5.5 MB model) is absent");
        AssertAllCases(Tokenizer.FromFile(path), path);
    }

    [Fact]
    public void Encode_RobertaBaseTokenizerJson_MatchesOptIdsWithoutSpecials()
    {
        // roberta-base's tokenizer.json has OPT's vocab and merges: same ids without special tokens, <s> … </s> with.
        var shared = Fixtures.Shared("opt");
        if (shared is null) Assert.Skip("shared fixtures folder (../shared/fixtures/tokenizers/opt/roberta-base.tokenizer.json) is absent");
        var tok = Tokenizer.FromFile(Path.Combine(shared, "roberta-base.tokenizer.json"));
        var failures = new List<string>();
        // Texts holding roberta's other added tokens differ by design (OPT has <s>, <pad>, <unk>, <mask> as plain text).
        string[] robertaOnly = ["<s>", "<pad>", "<unk>", "<mask>"];
        foreach (var c in Fixtures.ReadCases(Fixtures.Local("opt")).Where(c => !robertaOnly.Any(t => c.Text.Contains(t, StringComparison.Ordinal))))
        {
            var ids = tok.Encode(c.Text, false);
            if (!ids.SequenceEqual(c.IdsNoSpecial)) failures.Add(Describe(c, "ids_no_special", c.IdsNoSpecial, ids, tok));
            var with = tok.Encode(c.Text, true);
            if (!with.SequenceEqual(new[] { 0 }.Concat(c.IdsNoSpecial).Append(2))) failures.Add(Describe(c, "ids (<s> … </s>)", c.IdsNoSpecial, with, tok));
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(8)));
    }
}
