// Cross-check against SentencePiece itself (Debian python3-sentencepiece 0.1.97, the library that made the golden
// files) on thousands of random multilingual strings: raw sentencepiece ids (no HF special-token handling) must be
// identical. Skips, saying so, when /usr/bin/python3 with sentencepiece is not installed.
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using BatchVlm.Tokenizers.SentencePiece;

namespace BatchVlm.Tokenizers.Tests;

public sealed class SentencePieceCrossCheckTests
{
    private const string Python = "/usr/bin/python3";

    private const string Script = """
        import json, sys
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
        with open(sys.argv[2], encoding='utf-8') as f, open(sys.argv[3], 'w') as out:
            for line in f:
                out.write(json.dumps(sp.encode(json.loads(line))) + '\n')
        """;

    public static TheoryData<string, string> Models => new()
    {
        { "standin-gemma", "tokenizer.model" }, { "standin-paligemma", "tokenizer.model" },
        { "standin-xlm-roberta", "sentencepiece.bpe.model" }, { "t5", "spiece.model" }, { "xlm-roberta", "sentencepiece.bpe.model" },
    };

    private static readonly string[] Alphabet =
    [
        "a", "e", "s", "the", "ing", "tion", " ", "  ", "   ", "\t", "\n", "\r\n", "0", "1", "7", "00", ".", ",", "!", "'", "-",
        "<", ">", "é", "e\u0301", "ß", "ﬁ", "Å", "Å", "½", "①", "ｶ", "ﾞ", "Ａ", "𝐀", "日", "本", "語", "漢字", "한", "국", "어",
        "я", "Ж", "ς", "Σ", "ا", "ש", "न", "्", "😀", "👍🏽", "👨‍👩‍👧", "🇩🇪", "\u3000", "\u00a0", "\u200b", "\u2028",
        "\ufeff", "\0", "\a", "\u001f", "\uFFFD", "𓀀", "\U00100000", "<start_of_turn>", "<loc0001>", "<seg012>", "\n\n",
        "<table>", "<unk>", "<s>", "</s>", "<mask>", "hello", " world", "▁", "ababab", "xxxx",
    ];

    [Theory]
    [MemberData(nameof(Models))]
    public void Encode_RandomStrings_SameIdsAsSentencePiece(string folder, string file)
    {
        string? dir = folder == "xlm-roberta" ? Fixtures.Shared(folder) : Fixtures.Local(folder);
        if (dir is null) Assert.Skip($"shared fixtures folder for {folder} is absent");
        if (!File.Exists(Python)) Assert.Skip($"{Python} is not installed");
        string model = Path.Combine(dir, file);
        string work = Directory.CreateTempSubdirectory("spcheck").FullName;
        try
        {
            var rng = new Random(folder.Length * 7919);
            var texts = new List<string>();
            for (int i = 0; i < 4000; i++)
            {
                var sb = new StringBuilder();
                int n = rng.Next(0, 30);
                for (int k = 0; k < n; k++) sb.Append(Alphabet[rng.Next(Alphabet.Length)]);
                texts.Add(sb.ToString());
            }
            string input = Path.Combine(work, "in.jsonl"), output = Path.Combine(work, "out.jsonl"), script = Path.Combine(work, "enc.py");
            File.WriteAllLines(input, texts.Select(t => JsonSerializer.Serialize(t)));
            File.WriteAllText(script, Script);
            var psi = new ProcessStartInfo(Python, [script, model, input, output]) { RedirectStandardError = true };
            using (var p = Process.Start(psi)!)
            {
                string err = p.StandardError.ReadToEnd();
                p.WaitForExit();
                if (p.ExitCode != 0 && err.Contains("No module named 'sentencepiece'")) Assert.Skip("python3-sentencepiece is not installed");
                Assert.True(p.ExitCode == 0, err);
            }
            var expected = File.ReadAllLines(output);
            var proto = SentencePieceModelProto.Parse(File.ReadAllBytes(model), model);
            var sp = new SentencePieceProcessor(proto, model);
            var failures = new List<string>();
            var ids = new List<int>();
            for (int i = 0; i < texts.Count; i++)
            {
                ids.Clear();
                sp.Encode(texts[i], ids);
                string actual = "[" + string.Join(", ", ids) + "]";
                if (actual != expected[i]) failures.Add($"  {JsonSerializer.Serialize(texts[i])}\n    sentencepiece {expected[i]}\n    ours          {actual}");
            }
            Assert.True(failures.Count == 0, $"{failures.Count} of {texts.Count} random strings differ:\n{string.Join("\n", failures.Take(6))}");
        }
        finally { Directory.Delete(work, true); }
    }
}
