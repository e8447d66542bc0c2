// `batchvlm bench gemma`: Gemma-2B-shaped decoder layers (width 2048, 8 heads, 1 kv head, head_dim 256, MLP 16384,
// random weights) through GemmaForCausalLM on the CPU backend — prefill tokens/s (B × 260 tokens) and decode
// tokens/s (8 cached steps from context 260) at batch 1 and 8 — against PyTorch measured in the same run
// (gemma_torch.py: HF's GemmaDecoderLayer math in plain torch, OMP_WAIT_POLICY=PASSIVE, OpenBLAS at its AVX-512
// best; run right after ours for each configuration), with the method of shared/research/baselines.md (warm-up ≥ 0.3 s, 5 samples ≥ 0.5 s, median (min–max)).
// Per-layer figures = (4-layer − 2-layer) / 2, which cancels embedding, final norm and LM head. Decode is memory
// bound, so its weight bytes per second are set against this machine's read bandwidth, measured here too.
// `--paligemma`: writes a PaliGemma-3B-224-shaped random bf16 checkpoint with our SafetensorsWriter, loads it
// memory-mapped and reports peak RSS, load time, prefill time and per-token decode time.
// Options: --layers 2,4  --batches 1,8  --prompt 260  --steps 8  --samples 5  --threads 2  --no-torch
//          --dtype f32|bf16 (our weights; torch always f32)  --dir DIR (checkpoint cache, default /tmp/batchvlm-bench-gemma)
using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics;
using BatchVlm.Bench.Engine;
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Models;

namespace BatchVlm.Bench.Gemma;

public sealed class GemmaBench : IBenchArea
{
    public string Name => "gemma";
    public string Description => "Gemma-2B-shaped prefill/decode tokens/s vs PyTorch, decode bytes/s vs memory bandwidth; --paligemma: 3B RSS";

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public int Run(string[] args)
    {
        string dir = BenchTiming.Arg(args, "--dir", Path.Combine(Path.GetTempPath(), "batchvlm-bench-gemma"));
        if (args.Contains("--paligemma")) return PaliGemmaMemory.Run(args, dir);
        var layerCounts = BenchTiming.Arg(args, "--layers", "2,4").Split(',').Select(int.Parse).ToArray();
        var batches = BenchTiming.Arg(args, "--batches", "1,8").Split(',').Select(int.Parse).ToArray();
        int prompt = int.Parse(BenchTiming.Arg(args, "--prompt", "260"), Inv);
        int steps = int.Parse(BenchTiming.Arg(args, "--steps", "8"), Inv);
        int samples = int.Parse(BenchTiming.Arg(args, "--samples", "5"), Inv);
        int threads = int.Parse(BenchTiming.Arg(args, "--threads", "2"), Inv);
        var dtype = BenchTiming.Arg(args, "--dtype", "f32") == "bf16" ? SafetensorsDtype.BF16 : SafetensorsDtype.F32;
        bool torch = !args.Contains("--no-torch");

        Console.WriteLine($"# Gemma-2B-shaped layers (C 2048, 8 heads, 1 kv head, D 256, MLP 16384), random weights; ours: {dtype} weights, CpuBackend ({CpuBackend.Default.Threads} threads); torch f32, {threads} threads");
        Console.WriteLine($"# prefill: B × {prompt} tokens; decode: {steps} cached steps from context {prompt}; median (min–max) of {samples} samples; load at start: {File.ReadAllText("/proc/loadavg").Trim()}");
        double bandwidth = ReadBandwidth(threads);
        Console.WriteLine($"# memory read bandwidth ({threads} threads, 1 GiB sum): {bandwidth / 1e9:0.0} GB/s");

        var ours = new Dictionary<(string, int, int), Samples>();
        var reference = new Dictionary<(string, int, int), (double Med, double Min, double Max)>();
        string script = Path.Combine(BenchTiming.RepoRoot(), "bench", "BatchVlm.Bench", "Gemma", "gemma_torch.py");
        long layerWeights = 0;
        long layerBytes = 0; // ours: decode weight bytes per layer per step, in the checkpoint dtype
        foreach (int layers in layerCounts)
        {
            var shape = RandomCheckpoint.Gemma2B(layers, vocab: 256);
            string ckpt = Path.Combine(dir, $"gemma2b-{layers}l-{dtype.ToHeaderName().ToLowerInvariant()}");
            if (!File.Exists(Path.Combine(ckpt, "model.safetensors")))
            {
                var sw = Stopwatch.StartNew();
                long bytes = RandomCheckpoint.WriteGemma(ckpt, shape, dtype, seed: (ulong)layers);
                Console.WriteLine($"# wrote {ckpt} ({RandomCheckpoint.Mb(bytes)}) in {sw.Elapsed.TotalSeconds:0.0} s");
            }
            var model = GemmaForCausalLM.Load(ckpt, CpuBackend.Default);
            layerWeights = shape.LayerWeights;
            layerBytes = layerWeights * (dtype == SafetensorsDtype.BF16 ? 2 : 4);
            var rng = new Random(7);
            foreach (int b in batches)
            {
                var ids = new long[b, prompt];
                for (int r = 0; r < b; r++)
                    for (int j = 0; j < prompt; j++) ids[r, j] = rng.Next(3, 256);
                var pre = Measure(() =>
                {
                    var p = model.Prefill(ids, null, steps);
                    p.LastLogits.Dispose();
                    p.State.Dispose();
                }, samples);
                ours[("prefill", layers, b)] = pre;
                var prefilled = model.Prefill(ids, null, steps);
                prefilled.LastLogits.Dispose();
                var state = (CausalLmDecoderState)prefilled.State;
                var tokens = Enumerable.Range(0, b).Select(i => 5 + i).ToArray();
                var dec = Measure(() =>
                {
                    for (int s = 0; s < steps; s++) model.DecodeStep(state, tokens).Dispose();
                    state.Rewind(prompt);
                }, samples);
                state.Dispose();
                ours[("decode", layers, b)] = dec;
                Console.WriteLine($"#   ours {layers} layers, batch {b}: prefill {pre.Median * 1e3:0.0} ms, decode {dec.Median * 1e3 / steps:0.0} ms/step");
                if (!torch) continue;
                // PyTorch right after ours for the same configuration, so background load hits both alike.
                foreach (var l in BenchTiming.RunPython(script,
                             $"--threads {threads} --layers {layers} --batches {b} --prompt {prompt} --steps {steps} --samples {samples}", threads))
                {
                    var f = l.Split('\t');
                    if (f.Length != 6) continue;
                    reference[(f[0], int.Parse(f[1], Inv), int.Parse(f[2], Inv))] =
                        (double.Parse(f[3], Inv), double.Parse(f[4], Inv), double.Parse(f[5], Inv));
                }
                if (reference.TryGetValue(("decode", layers, b), out var td) && reference.TryGetValue(("prefill", layers, b), out var tp))
                    Console.WriteLine($"#   torch {layers} layers, batch {b}: prefill {tp.Med * 1e3:0.0} ms, decode {td.Med * 1e3 / steps:0.0} ms/step; load {File.ReadAllText("/proc/loadavg").Trim()}");
            }
        }

        Console.WriteLine();
        Console.WriteLine("| bench | layers | batch | ours ms | torch ms | ours tok/s | torch tok/s | ours time / torch time |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        foreach (var ((bench, layers, b), s) in ours.OrderBy(k => k.Key.Item1).ThenBy(k => k.Key.Item2).ThenBy(k => k.Key.Item3))
        {
            int tokens = bench == "prefill" ? b * prompt : b * steps;
            string t = reference.TryGetValue((bench, layers, b), out var r) ? $"{r.Med * 1e3:0.0} ({r.Min * 1e3:0.0}–{r.Max * 1e3:0.0})" : "-";
            string tt = reference.ContainsKey((bench, layers, b)) ? $"{tokens / r.Med:0.0}" : "-";
            string ratio = reference.ContainsKey((bench, layers, b)) ? $"{s.Median / r.Med:0.00}" : "-";
            Console.WriteLine($"| {bench} | {layers} | {b} | {s.Median * 1e3:0.0} ({s.Min * 1e3:0.0}–{s.Max * 1e3:0.0}) | {t} | {tokens / s.Median:0.0} | {tt} | {ratio} |");
        }
        if (layerCounts.Contains(2) && layerCounts.Contains(4))
        {
            Console.WriteLine();
            Console.WriteLine($"Per layer ((4-layer − 2-layer) / 2, medians); decode weight bytes per layer per step {RandomCheckpoint.Mb(layerBytes)}:");
            Console.WriteLine("| bench | batch | ours ms/layer | torch ms/layer | ours/torch | ours weight GB/s | torch weight GB/s | ours % of read bandwidth |");
            Console.WriteLine("|---|---|---|---|---|---|---|---|");
            foreach (var bench in new[] { "prefill", "decode" })
                foreach (int b in batches)
                {
                    double o = (ours[(bench, 4, b)].Median - ours[(bench, 2, b)].Median) / 2;
                    double? t = reference.TryGetValue((bench, 4, b), out var r4) && reference.TryGetValue((bench, 2, b), out var r2) ? (r4.Med - r2.Med) / 2 : null;
                    if (bench == "decode")
                    {
                        o /= steps;
                        if (t is not null) t /= steps;
                    }
                    string gbs = bench == "decode" ? $"{layerBytes / o / 1e9:0.0}" : "-";
                    // torch runs f32 weights: 4 bytes each
                    string tgbs = bench == "decode" && t is not null ? $"{layerWeights * 4 / t.Value / 1e9:0.0}" : "-";
                    string pct = bench == "decode" ? $"{100 * layerBytes / o / bandwidth:0}%" : "-";
                    Console.WriteLine($"| {bench} | {b} | {o * 1e3:0.00} | {(t is null ? "-" : (t.Value * 1e3).ToString("0.00", Inv))} | {(t is null ? "-" : (o / t.Value).ToString("0.00", Inv))} | {gbs} | {tgbs} | {pct} |");
                }
        }
        return 0;
    }

    private static Samples Measure(Action call, int samples)
    {
        BenchTiming.WarmUp(call);
        var s = new Samples();
        for (int i = 0; i < samples; i++) s.PerCallSeconds.Add(BenchTiming.Sample(call, 0.5));
        return s;
    }

    /// <summary>Read bandwidth: <paramref name="threads"/> threads summing disjoint halves of a 1 GiB array (best of 5).</summary>
    internal static unsafe double ReadBandwidth(int threads)
    {
        const long bytes = 1L << 30;
        var mem = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)bytes, 64);
        try
        {
            long n = bytes / 4;
            for (long i = 0; i < n; i++) mem[i] = i & 7;
            double best = 0;
            var sink = new float[threads];
            for (int rep = 0; rep < 5; rep++)
            {
                var sw = Stopwatch.StartNew();
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
                {
                    long chunk = n / threads, start = t * chunk;
                    var acc0 = Vector256<float>.Zero;
                    var acc1 = Vector256<float>.Zero;
                    float* p = mem + start;
                    for (long i = 0; i + 16 <= chunk; i += 16)
                    {
                        acc0 += Vector256.Load(p + i);
                        acc1 += Vector256.Load(p + i + 8);
                    }
                    sink[t] = Vector256.Sum(acc0 + acc1);
                });
                best = Math.Max(best, bytes / sw.Elapsed.TotalSeconds);
            }
            GC.KeepAlive(sink);
            return best;
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(mem);
        }
    }
}
