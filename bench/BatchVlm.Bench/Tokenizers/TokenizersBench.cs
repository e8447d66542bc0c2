// `./batchvlm bench tokenizers`: single-thread encode throughput of BatchVlm.Tokenizers against SentencePiece 0.1.97
// (Debian python3-sentencepiece, scripts/bench/tokenizers_sp.py) on the same .model files and the same ≥ 10 MB mixed
// English/German/Russian/Korean/Chinese corpus (generated deterministically from Debian's gettext catalogs), in the
// same run, line by line (how prompts and captions arrive) and as one whole text.
// Models: a Gemma-style 32k BPE (byte fallback, split digits, no dummy prefix) and a 32k unigram, both trained by the
// script on the corpus' first 2 MB, plus the fixtures' XLM-R model (250k unigram) and Gemma stand-in (2.6k BPE) when
// the shared fixtures are present. Both sides encode without special tokens; token counts are printed side by side.
// Options: --runs N (default 5), --work DIR (default <repo>/.state/bench-tokenizers), --mb SIZE (corpus, default 10.5),
//          --models a,b (subset of bpe32k,uni32k,xlm-roberta,standin-gemma), --no-reference (skip SentencePiece).
using System.Diagnostics;
using System.Text.Json;
using BatchVlm.Tokenizers;

namespace BatchVlm.Bench.Tokenizers;

public sealed class TokenizersBench : IBenchArea
{
    public string Name => "tokenizers";
    public string Description => "encode MB/s and tokens/s vs SentencePiece 0.1.97 (line by line and whole text)";

    private const string Python = "/usr/bin/python3";

    public int Run(string[] args)
    {
        int runs = IntOpt(args, "--runs", 5);
        string repo = FindRepoRoot();
        string work = StrOpt(args, "--work") ?? Path.Combine(repo, ".state", "bench-tokenizers");
        string mb = StrOpt(args, "--mb") ?? "10.5";
        bool reference = !args.Contains("--no-reference");
        var only = StrOpt(args, "--models")?.Split(',');
        string script = Path.Combine(repo, "scripts", "bench", "tokenizers_sp.py");
        Directory.CreateDirectory(work);
        string corpus = Path.Combine(work, "corpus.txt");
        if (!File.Exists(corpus)) RunScript(script, $"gen {Q(corpus)} --mb {mb}");
        foreach (var (kind, prefix) in new[] { ("bpe", "bpe32k"), ("unigram", "uni32k") })
            if (!File.Exists(Path.Combine(work, prefix + ".model")))
                RunScript(script, $"train {Q(corpus)} {Q(Path.Combine(work, prefix))} {kind}");

        var models = new List<(string Name, string Path)>
        {
            ("bpe32k", Path.Combine(work, "bpe32k.model")),
            ("uni32k", Path.Combine(work, "uni32k.model")),
        };
        foreach (var root in new[] { "/work/shared", Path.Combine(repo, "..", "shared") })
        {
            string xlmr = Path.Combine(root, "fixtures", "tokenizers", "xlm-roberta", "sentencepiece.bpe.model");
            if (File.Exists(xlmr) && models.All(m => m.Name != "xlm-roberta")) models.Add(("xlm-roberta", xlmr));
        }
        models.Add(("standin-gemma", Path.Combine(repo, "tests", "fixtures", "tokenizers", "standin-gemma", "tokenizer.model")));
        if (only != null) models = models.Where(m => only.Contains(m.Name)).ToList();

        string text = File.ReadAllText(corpus);
        string[] lines = text.Split('\n');
        long bytes = System.Text.Encoding.UTF8.GetByteCount(text);
        Console.WriteLine($"corpus {corpus}: {bytes / 1e6:F2} MB, {lines.Length} lines; {runs} runs, median; 1 thread; " +
                          $"{Environment.ProcessorCount} cores (load avg {LoadAverage()})");
        Console.WriteLine($"{"model",-14} {"mode",-13} {"impl",-22} {"tokens",10} {"s median",9} {"(min-max)",15} {"MB/s",7} {"Mtok/s",7} {"vs sp",6}");
        foreach (var (name, path) in models)
        {
            var sw = Stopwatch.StartNew();
            var tok = Tokenizer.FromFile(path);
            double loadS = sw.Elapsed.TotalSeconds;
            Console.WriteLine($"{name}: {tok.Description}, loaded in {loadS:F2} s");
            var refs = new Dictionary<string, (double S, long Tokens)>();
            if (reference)
                foreach (var line in RunScript(script, $"bench {Q(path)} {Q(corpus)} --runs {runs}", capture: true))
                {
                    using var doc = JsonDocument.Parse(line);
                    var r = doc.RootElement;
                    string mode = r.GetProperty("mode").GetString()!;
                    double s = r.GetProperty("seconds_median").GetDouble();
                    long n = r.GetProperty("tokens").GetInt64();
                    refs[mode] = (s, n);
                    Print(name, mode, "sentencepiece 0.1.97", n, s, r.GetProperty("seconds_min").GetDouble(), r.GetProperty("seconds_max").GetDouble(), bytes, null);
                }
            foreach (var mode in new[] { "line_by_line", "whole_text" })
            {
                var ids = new List<int>(1 << 20);
                long Once()
                {
                    long n = 0;
                    if (mode == "whole_text") { ids.Clear(); tok.EncodeTo(text, ids); return ids.Count; }
                    foreach (var l in lines) { ids.Clear(); tok.EncodeTo(l, ids); n += ids.Count; }
                    return n;
                }
                Once(); // warm-up (JIT, BPE word cache)
                var times = new List<double>();
                long tokens = 0;
                for (int i = 0; i < runs; i++)
                {
                    sw.Restart();
                    tokens = Once();
                    times.Add(sw.Elapsed.TotalSeconds);
                }
                times.Sort();
                double med = times[times.Count / 2];
                double? ratio = refs.TryGetValue(mode, out var rf) ? rf.S / med : null;
                Print(name, mode, "BatchVlm.Tokenizers", tokens, med, times[0], times[^1], bytes, ratio);
                if (refs.TryGetValue(mode, out var rr) && rr.Tokens != tokens)
                    Console.WriteLine($"  note: token counts differ ({tokens} vs {rr.Tokens}): HF-style special-token splitting of text like '<s>' or '<unk>'");
            }
        }
        return 0;
    }

    private static void Print(string model, string mode, string impl, long tokens, double s, double min, double max, long bytes, double? ratio) =>
        Console.WriteLine($"{model,-14} {mode,-13} {impl,-22} {tokens,10} {s,9:F3} {$"({min:F2}-{max:F2})",15} {bytes / 1e6 / s,7:F2} {tokens / 1e6 / s,7:F3} {(ratio is double r ? $"{r:F2}x" : ""),6}");

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; } catch (IOException) { return "?"; }
    }

    private static string Q(string s) => "'" + s.Replace("'", "'\\''") + "'";

    private static List<string> RunScript(string script, string arguments, bool capture = false)
    {
        var psi = new ProcessStartInfo("/bin/sh", new[] { "-c", $"{Python} {Q(script)} {arguments}" })
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        psi.Environment["OMP_NUM_THREADS"] = "1";
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {Python}");
        var output = new List<string>();
        string? line;
        while ((line = p.StandardOutput.ReadLine()) != null)
        {
            if (capture) output.Add(line);
            else Console.WriteLine("  " + line);
        }
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{Python} {script} {arguments} failed with exit code {p.ExitCode}");
        return output;
    }

    private static int IntOpt(string[] args, string name, int dflt) => StrOpt(args, name) is { } s && int.TryParse(s, out int v) ? v : dflt;

    private static string? StrOpt(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "BatchVlm.sln"))) dir = dir.Parent;
        return dir?.FullName ?? Directory.GetCurrentDirectory();
    }
}
