// `batchvlm bench siglip`: the engine's SigLIP-base-patch16-224 vision tower (random weights, written to a temporary
// safetensors file and loaded memory-mapped like a real checkpoint) against the same architecture in plain PyTorch
// (scripts/bench/siglip_torch.py, Debian torch 1.13 on OpenBLAS AVX-512, OMP_WAIT_POLICY=PASSIVE), samples
// interleaved one by one (the torch process waits on stdin while we run). 34.9 GFLOP per image.
// Options: --batches 1,8  --threads 2  --samples 7  --min-sample 0.5  --bf16 (weights stored bf16)  --no-torch
using System.Diagnostics;
using System.Globalization;
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Models;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Bench.Engine;

public sealed class SiglipBench : IBenchArea
{
    public string Name => "siglip";
    public string Description => "SigLIP-B/16-224 vision tower forward vs PyTorch (interleaved samples)";

    private const double GflopPerImage = 34.9;

    public int Run(string[] args)
    {
        var batches = BenchTiming.Arg(args, "--batches", "8").Split(',').Select(int.Parse).ToArray();
        int threads = int.Parse(BenchTiming.Arg(args, "--threads", "2"), CultureInfo.InvariantCulture);
        int samples = int.Parse(BenchTiming.Arg(args, "--samples", "7"), CultureInfo.InvariantCulture);
        double minSample = double.Parse(BenchTiming.Arg(args, "--min-sample", "0.5"), CultureInfo.InvariantCulture);
        bool bf16 = args.Contains("--bf16"), torch = !args.Contains("--no-torch");
        var cfg = new SiglipVisionConfig();   // the defaults are SigLIP-B/16-224

        string dir = Directory.CreateTempSubdirectory("batchvlm-siglip-bench").FullName;
        try
        {
            string file = Path.Combine(dir, "model.safetensors");
            long bytes = WriteRandomTower(file, cfg, bf16);
            Console.WriteLine($"# SigLIP-B/16-224 vision tower + MAP head, random weights ({bytes / 1e6:F0} MB {(bf16 ? "bf16" : "f32")}, memory-mapped), {threads} threads; machine load at start: {File.ReadAllText("/proc/loadavg").Trim()}");
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            long rssBefore = Rss("VmRSS");
            using var ckpt = SafetensorsCheckpoint.Open(file);
            var be = new CpuBackend(new CpuBackendOptions { Threads = threads, Profile = args.Contains("--profile") });
            var vb = new VarBuilder(ckpt);
            var tower = new SiglipVisionTransformer(vb.Sub("vision_model"), be, cfg);
            vb.ThrowIfUnused();
            Console.WriteLine($"# RSS: {rssBefore / 1e6:F0} MB before load, {Rss("VmRSS") / 1e6:F0} MB after load (weights mapped, not copied; pages count once touched)");

            using var py = torch ? new BenchTiming.PythonServer(Path.Combine(BenchTiming.RepoRoot(), "scripts", "bench", "siglip_torch.py"), $"--threads {threads}", threads) : null;
            if (py is not null) Console.WriteLine($"# torch reference: plain-torch tower, {py.Banner}, OMP_WAIT_POLICY=PASSIVE, OpenBLAS AVX-512, {threads} threads");
            Console.WriteLine("| batch | ours ms median (min–max) | torch ms median (min–max) | ours/torch time | ours img/s | torch img/s | ours GFLOP/s |");
            Console.WriteLine("|---|---|---|---|---|---|---|");
            var rng = new Random(7);
            foreach (int b in batches)
            {
                var px = new float[b * 3 * cfg.ImageSize * cfg.ImageSize];
                for (int i = 0; i < px.Length; i++) px[i] = (float)(rng.NextDouble() * 2 - 1);
                using var pixels = be.FromFloats(px, b, 3, cfg.ImageSize, cfg.ImageSize);
                void Ours()
                {
                    using var o = tower.Forward(pixels);
                }
                BenchTiming.WarmUp(Ours);
                py?.Ask($"warmup {b}");
                var ours = new Samples();
                var theirs = new Samples();
                for (int s = 0; s < samples; s++)
                {
                    ours.PerCallSeconds.Add(BenchTiming.Sample(Ours, minSample));
                    if (py is not null) theirs.PerCallSeconds.Add(py.AskSeconds($"sample {b} {minSample.ToString(CultureInfo.InvariantCulture)}"));
                }
                if (be.Profile is { } prof)
                {
                    prof.Reset();
                    var sw = Stopwatch.StartNew();
                    Ours();
                    double total = sw.Elapsed.TotalSeconds;
                    Console.WriteLine($"# one forward, batch {b}: {total * 1e3:F0} ms; per op (ms, calls, share):");
                    foreach (var (op, calls, secs) in prof.Snapshot())
                        Console.WriteLine($"#   {op,-12} {secs * 1e3,8:F1} {calls,6} {secs / total,6:P0}");
                }
                string T(Samples x) => x.PerCallSeconds.Count == 0 ? "-" : $"{x.Median * 1e3:F0} ({x.Min * 1e3:F0}–{x.Max * 1e3:F0})";
                string ratio = py is null ? "-" : $"{ours.Median / theirs.Median:F2}";
                string tIps = py is null ? "-" : $"{b / theirs.Median:F2}";
                Console.WriteLine($"| {b} | {T(ours)} | {T(theirs)} | {ratio} | {b / ours.Median:F2} | {tIps} | {GflopPerImage * b / ours.Median:F0} |");
            }
            Console.WriteLine($"# RSS after the runs: {Rss("VmRSS") / 1e6:F0} MB (mapped weights {bytes / 1e6:F0} MB + activations + runtime); peak RSS {Rss("VmHWM") / 1e6:F0} MB");
            return 0;
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private static long Rss(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        return 0;
    }

    /// <summary>Writes vision_model.* weights of the tower (normal std 0.02; LayerNorm 1/0) and returns the file size.</summary>
    internal static long WriteRandomTower(string path, SiglipVisionConfig c, bool bf16)
    {
        var w = new SafetensorsWriter();
        int h = c.HiddenSize, f = c.IntermediateSize;
        // Streamed through AddGenerated so no tensor is ever held whole in managed memory (keeps the RSS figures honest).
        int seed = 11;
        void Add(string name, params int[] shape)
        {
            bool half = bf16 && shape.Length >= 2;
            int tensorSeed = seed++;
            w.AddGenerated("vision_model." + name, half ? SafetensorsDtype.BF16 : SafetensorsDtype.F32, shape, (offset, chunk) =>
            {
                var rng = new Random(tensorSeed * 1_000_003 + (int)(offset / 4096));
                if (half)
                {
                    var u = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(chunk);
                    for (int i = 0; i < u.Length; i++) u[i] = DTypes.FloatToBF16((float)(NextNormal(rng) * 0.02));
                }
                else
                {
                    var f = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(chunk);
                    for (int i = 0; i < f.Length; i++) f[i] = (float)(NextNormal(rng) * 0.02);
                }
            });
        }
        void Norm(string name)
        {
            w.Add($"vision_model.{name}.weight", Enumerable.Repeat(1f, h).ToArray(), [h]);
            w.Add($"vision_model.{name}.bias", new float[h], [h]);
        }
        Add("embeddings.patch_embedding.weight", h, c.NumChannels, c.PatchSize, c.PatchSize);
        Add("embeddings.patch_embedding.bias", h);
        Add("embeddings.position_embedding.weight", c.NumPatches, h);
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            string p = $"encoder.layers.{l}.";
            foreach (var proj in new[] { "q_proj", "k_proj", "v_proj", "out_proj" })
            {
                Add(p + $"self_attn.{proj}.weight", h, h);
                Add(p + $"self_attn.{proj}.bias", h);
            }
            Norm(p + "layer_norm1");
            Norm(p + "layer_norm2");
            Add(p + "mlp.fc1.weight", f, h);
            Add(p + "mlp.fc1.bias", f);
            Add(p + "mlp.fc2.weight", h, f);
            Add(p + "mlp.fc2.bias", h);
        }
        Norm("post_layernorm");
        Add("head.probe", 1, 1, h);
        Add("head.attention.in_proj_weight", 3 * h, h);
        Add("head.attention.in_proj_bias", 3 * h);
        Add("head.attention.out_proj.weight", h, h);
        Add("head.attention.out_proj.bias", h);
        Norm("head.layernorm");
        Add("head.mlp.fc1.weight", f, h);
        Add("head.mlp.fc1.bias", f);
        Add("head.mlp.fc2.weight", h, f);
        Add("head.mlp.fc2.bias", h);
        return w.Save(path);
    }

    private static double NextNormal(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
