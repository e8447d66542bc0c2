// `batchvlm bench gemma --paligemma`: a PaliGemma-3B-224-shaped checkpoint with random bf16 weights (5.9 GB, written by
// RandomCheckpoint through the engine's SafetensorsWriter), loaded memory-mapped by PaliGemmaForConditionalGeneration
// in a fresh child process so its peak RSS is the model's alone. Reports load time, RSS split into file-backed
// (mapped weights, reclaimable page cache) and anonymous (our own allocations: converted norms, activations, KV
// cache), the peak (VmHWM), image + prompt prefill time, and per-token decode time for one image and a batch.
// Options: --tokens 16 (decode steps)  --batch 1,4  --text-layers N / --vision-layers N (smaller variants)
using System.Diagnostics;
using System.Globalization;
using BatchVlm.Bench.Engine;
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Models;

namespace BatchVlm.Bench.Gemma;

internal static class PaliGemmaMemory
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static int Run(string[] args, string dir)
    {
        int? textLayers = args.Contains("--text-layers") ? int.Parse(BenchTiming.Arg(args, "--text-layers", "18"), Inv) : null;
        int? visionLayers = args.Contains("--vision-layers") ? int.Parse(BenchTiming.Arg(args, "--vision-layers", "27"), Inv) : null;
        string ckpt = Path.Combine(dir, $"paligemma-3b-224-bf16{(textLayers is null ? "" : $"-t{textLayers}")}{(visionLayers is null ? "" : $"-v{visionLayers}")}");
        if (args.Contains("--measure")) return Measure(ckpt, args);

        if (!File.Exists(Path.Combine(ckpt, "model.safetensors")))
        {
            var sw = Stopwatch.StartNew();
            long bytes = RandomCheckpoint.WritePaliGemma3B(ckpt, SafetensorsDtype.BF16, seed: 3, textLayers, visionLayers);
            Console.WriteLine($"# wrote {ckpt}: {RandomCheckpoint.Mb(bytes)} in {sw.Elapsed.TotalSeconds:0.0} s");
        }
        // Measure in a fresh process: the writer's buffers and this process's history must not count.
        var psi = new ProcessStartInfo(Environment.ProcessPath!)
        {
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(typeof(PaliGemmaMemory).Assembly.Location);
        foreach (var a in new[] { "gemma", "--paligemma", "--measure", "--dir", dir }.Concat(args.Where(a => a is not "--paligemma" and not "--measure")))
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        return p.ExitCode;
    }

    private static int Measure(string ckpt, string[] args)
    {
        int tokens = int.Parse(BenchTiming.Arg(args, "--tokens", "16"), Inv);
        var batches = BenchTiming.Arg(args, "--batch", "1,4").Split(',').Select(int.Parse).ToArray();
        var be = CpuBackend.Default;
        Console.WriteLine($"# PaliGemma-3B-224-shaped, random bf16 weights, {ckpt} ({RandomCheckpoint.Mb(new FileInfo(Path.Combine(ckpt, "model.safetensors")).Length)}); CpuBackend {be.Threads} threads; load at start: {File.ReadAllText("/proc/loadavg").Trim()}");
        Console.WriteLine($"# before load: {Rss()}");
        var sw = Stopwatch.StartNew();
        var model = PaliGemmaForConditionalGeneration.Load(ckpt, be);
        Console.WriteLine($"# loaded in {sw.Elapsed.TotalSeconds:0.00} s: {Rss()}");
        var rng = new Random(1);
        foreach (int b in batches)
        {
            int size = model.VisionConfig.ImageSize;
            var pixels = new float[b * 3 * size * size];
            for (int i = 0; i < pixels.Length; i++) pixels[i] = (float)(rng.NextDouble() * 2 - 1);
            using var px = be.FromFloats(pixels, b, 3, size, size);
            // "caption en\n" is 4 ids in PaliGemma's vocabulary; any ids give the same cost.
            var prompts = Enumerable.Range(0, b).Select(_ => (IReadOnlyList<int>)PaliGemmaProcessor.BuildInputIds(
                [rng.Next(3, 256000), rng.Next(3, 256000), rng.Next(3, 256000), 108], model.NumImageTokens, model.Config.ImageTokenIndex, 2)).ToList();
            var (ids, mask) = PromptBatch.LeftPad(prompts, 0);
            sw.Restart();
            var prefilled = model.Prefill(ids, mask, px, tokens);
            double prefill = sw.Elapsed.TotalSeconds;
            prefilled.LastLogits.Dispose();
            var state = prefilled.State;
            var next = Enumerable.Range(0, b).Select(i => 300 + i).ToArray();
            model.DecodeStep(state, next).Dispose(); // first step warms the decode path
            sw.Restart();
            for (int s = 1; s < tokens; s++) model.DecodeStep(state, next).Dispose();
            double perStep = sw.Elapsed.TotalSeconds / (tokens - 1);
            long kv = ((CausalLmDecoderState)state).Cache.Bytes;
            state.Dispose();
            Console.WriteLine($"batch {b}: prefill (SigLIP + {ids.GetLength(1)} prompt tokens) {prefill:0.00} s; decode {perStep * 1e3:0} ms/step = {perStep * 1e3 / b:0} ms/token ({b / perStep:0.00} tokens/s); KV cache {RandomCheckpoint.Mb(kv)}; {Rss()}");
        }
        Console.WriteLine($"# peak: {Peak()}");
        return 0;
    }

    private static string Rss()
    {
        var s = Status();
        return $"RSS {s["VmRSS"] / 1024} MB (file-backed {s["RssFile"] / 1024} MB, anonymous {s["RssAnon"] / 1024} MB)";
    }

    private static string Peak() => $"VmHWM {Status()["VmHWM"] / 1024} MB";

    private static Dictionary<string, long> Status()
    {
        var d = new Dictionary<string, long>();
        foreach (var line in File.ReadAllLines("/proc/self/status"))
        {
            var parts = line.Split(':', 2);
            if (parts.Length == 2 && parts[1].Trim().EndsWith(" kB", StringComparison.Ordinal))
                d[parts[0]] = long.Parse(parts[1].Trim()[..^3].Trim(), Inv);
        }
        return d;
    }
}
