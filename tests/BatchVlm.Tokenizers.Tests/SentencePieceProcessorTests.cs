// The fast paths of SentencePieceProcessor (double-array trie walk, ASCII normalization shortcut, BPE per-word cache)
// against its plain reference twin (ReferenceMode) on random multilingual strings: the ids must be identical.
using System.Text;
using BatchVlm.Tokenizers.SentencePiece;

namespace BatchVlm.Tokenizers.Tests;

public sealed class SentencePieceProcessorTests
{
    private static readonly string[] Alphabet =
    [
        "a", "b", "e", "the", "ing", " ", "  ", "\t", "\n", "0", "1", "9", ".", ",", "'", "<", ">", "é", "ß", "ﬁ", "Å", "Å",
        "日", "本", "語", "한", "국", "я", "ж", "😀", "👨‍👩‍👧", "\u3000", "\u00a0", "\u200b", "\0", "\a", "\uFFFD", "<start_of_turn>",
        "<loc0001>", "\n\n", "<table>", "ab", "ababab", "0000", "hello", " world", "▁",
    ];

    public static TheoryData<string, string> Models => new()
    {
        { "standin-gemma", "tokenizer.model" }, { "standin-paligemma", "tokenizer.model" },
        { "standin-xlm-roberta", "sentencepiece.bpe.model" }, { "t5", "spiece.model" },
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void EncodeNormalized_FastPaths_MatchReferenceTwin(string folder, string file)
    {
        string path = Path.Combine(Fixtures.Local(folder), file);
        var proto = SentencePieceModelProto.Parse(File.ReadAllBytes(path), path);
        var fast = new SentencePieceProcessor(proto, path);
        var reference = new SentencePieceProcessor(proto, path) { ReferenceMode = true };
        var rng = new Random(12345);
        var a = new List<int>(); var b = new List<int>();
        for (int i = 0; i < 3000; i++)
        {
            var sb = new StringBuilder();
            int n = rng.Next(0, 40);
            for (int k = 0; k < n; k++) sb.Append(Alphabet[rng.Next(Alphabet.Length)]);
            string text = sb.ToString();
            a.Clear(); b.Clear();
            fast.Encode(text, a);
            fast.Encode(text, a); // second time from the BPE word cache
            reference.Encode(text, b);
            reference.Encode(text, b);
            Assert.True(a.SequenceEqual(b), $"{folder}: {System.Text.Json.JsonSerializer.Serialize(text)}\n fast {string.Join(",", a)}\n ref  {string.Join(",", b)}");
        }
    }
}
