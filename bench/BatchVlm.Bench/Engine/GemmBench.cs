// `batchvlm bench gemm`: f32 GEMM GFLOP/s of the engine's CPU backend (Linear: x·Wᵀ, W stored (N, K) as in
// nn.Linear) against OpenBLAS cblas_sgemm (NoTrans, Trans) called in this process with OPENBLAS_CORETYPE unset
// (AVX-512 kernels) and PyTorch F.linear (Debian torch on the same OpenBLAS; scripts/bench/gemm_torch.py running as
// a server process), all three interleaved sample by sample, at 1 and 2 threads. Shapes: squares 256–4096 and the
// transformer shapes of shared/research/baselines.md. Options: --threads 1,2  --shapes all|name,name  --samples 7  --min-sample 0.2
//   --no-torch  --bf16 (also time our GEMM with bf16 weights).
using System.Globalization;
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Bench.Engine;

public sealed unsafe class GemmBench : IBenchArea
{
    public string Name => "gemm";
    public string Description => "f32 GEMM GFLOP/s vs OpenBLAS (same process) and PyTorch";

    internal static readonly (string Name, int M, int K, int N)[] Shapes =
    [
        ("sq256", 256, 256, 256), ("sq512", 512, 512, 512), ("sq1024", 1024, 1024, 1024),
        ("sq2048", 2048, 2048, 2048), ("sq4096", 4096, 4096, 4096),
        ("siglip_b1_attn", 196, 768, 768), ("siglip_b1_qkv", 196, 768, 2304),
        ("siglip_b1_mlp_up", 196, 768, 3072), ("siglip_b1_mlp_down", 196, 3072, 768),
        ("siglip_b8_attn", 1568, 768, 768), ("siglip_b8_qkv", 1568, 768, 2304),
        ("siglip_b8_mlp_up", 1568, 768, 3072), ("siglip_b8_mlp_down", 1568, 3072, 768),
        ("gemma_pf1_q_o", 260, 2048, 2048), ("gemma_pf1_kv", 260, 2048, 256),
        ("gemma_pf1_gate_up", 260, 2048, 16384), ("gemma_pf1_down", 260, 16384, 2048),
        ("gemma_dec1_gate_up", 1, 2048, 16384), ("gemma_dec8_gate_up", 8, 2048, 16384),
    ];

    public int Run(string[] args)
    {
        var threadList = BenchTiming.Arg(args, "--threads", "1,2").Split(',').Select(int.Parse).ToArray();
        string which = BenchTiming.Arg(args, "--shapes", "all");
        int samples = int.Parse(BenchTiming.Arg(args, "--samples", "7"), CultureInfo.InvariantCulture);
        double minSample = double.Parse(BenchTiming.Arg(args, "--min-sample", "0.2"), CultureInfo.InvariantCulture);
        _minSample = minSample;
        bool bf16 = args.Contains("--bf16");
        var shapes = which == "all" ? Shapes : Shapes.Where(s => which.Split(',').Contains(s.Name)).ToArray();
        if (shapes.Length == 0)
        {
            Console.Error.WriteLine($"no shape matches '{which}'; known: {string.Join(", ", Shapes.Select(s => s.Name))}");
            return 2;
        }

        OpenBlas.PrepareEnvironment(threadList.Max());
        if (args.Contains("--kernel"))
        {
            // the register kernel alone (packed panels in L1/L2) against OpenBLAS 1 thread on sq512 in the same run
            OpenBlas.TryLoad(out _);
            OpenBlas.SetThreads(1);
            var a0 = RandomArray(new Random(1), 512 * 512);
            var c0 = GC.AllocateUninitializedArray<float>(512 * 512, pinned: true);
            const int kc = 256, calls = 2000;
            double kflop = 2.0 * Gemm.MR * Gemm.NR * kc * calls, oflop = 2.0 * 512 * 512 * 512;
            var rk = BenchTiming.Interleaved(
                [() => Gemm.KernelOnly(kc, calls), () => { fixed (float* pa = a0, pc = c0) OpenBlas.Sgemm(512, 512, 512, pa, pa, true, pc); }],
                samples, minSample);
            Console.WriteLine($"kernel {Gemm.MR}x{Gemm.NR} kc={kc}: {kflop / rk[0].Median / 1e9:F0} GFLOP/s; OpenBLAS sq512 1t: {oflop / rk[1].Median / 1e9:F0} GFLOP/s");
            return 0;
        }
        if (!OpenBlas.TryLoad(out var err))
        {
            Console.Error.WriteLine(err);
            return 1;
        }
        Console.WriteLine($"# GEMM f32, C = A·Wᵀ (W stored (N, K)); GFLOP/s = 2·M·K·N / time; median (min–max) of {samples} samples; ours/X = our GFLOP/s ÷ X's (medians)");
        Console.WriteLine($"# ours: CpuBackend.Linear ({(Gemm.Avx512 ? "AVX-512 14x32" : "AVX2 6x16")} tile); OpenBLAS core: {OpenBlas.CoreName}; machine load at start: {File.ReadAllText("/proc/loadavg").Trim()}");
        bool torch = !args.Contains("--no-torch");
        string script = Path.Combine(BenchTiming.RepoRoot(), "scripts", "bench", "gemm_torch.py");
        var servers = torch ? threadList.ToDictionary(t => t, t => new BenchTiming.PythonServer(script, $"--threads {t}", t)) : [];
        if (torch) Console.WriteLine($"# torch: F.linear in Debian torch {servers.Values.First().Banner.Replace("ready ", "")} (OpenBLAS AVX-512, OMP_WAIT_POLICY=PASSIVE), one server process per thread count, samples interleaved with ours");
        Console.WriteLine("| shape | M×K×N | threads | ours | OpenBLAS | ours/OB |" + (torch ? " torch | ours/torch |" : "") + (bf16 ? " ours bf16 W |" : ""));
        Console.WriteLine("|---|---|---|---|---|---|" + (torch ? "---|---|" : "") + (bf16 ? "---|" : ""));
        var rng = new Random(42);
        var ratios = new List<double>();
        foreach (var (name, m, k, n) in shapes)
        {
            var a = RandomArray(rng, m * k);
            var w = RandomArray(rng, n * k);
            using var ta = CpuBackend.Default.FromFloats(a, m, k);
            using var tw = CpuBackend.Default.FromFloats(w, n, k);
            using var twh = tw.To(DType.BF16);
            var c = GC.AllocateUninitializedArray<float>(m * n, pinned: true);
            foreach (int t in threadList)
            {
                var be = new CpuBackend(new CpuBackendOptions { Threads = t });
                double flop = 2.0 * m * k * n;
                var contenders = new List<(Action, Func<double>)>
                {
                    Local(() => be.Linear(ta, tw, null).Dispose()),
                    Local(() =>
                    {
                        OpenBlas.SetThreads(t);
                        fixed (float* pa = a, pw = w, pc = c) OpenBlas.Sgemm(m, n, k, pa, pw, true, pc);
                    }),
                };
                int iTorch = -1, iBf16 = -1;
                if (torch)
                {
                    var srv = servers[t];
                    srv.Ask($"shape {m} {k} {n}");
                    iTorch = contenders.Count;
                    contenders.Add((() => srv.Ask("warmup"), () => srv.AskSeconds($"sample {minSample.ToString(CultureInfo.InvariantCulture)}")));
                }
                if (bf16)
                {
                    iBf16 = contenders.Count;
                    contenders.Add(Local(() => be.Linear(ta, twh, null).Dispose()));
                }
                if (m == 1)
                    contenders.Add(Local(() =>
                    {
                        OpenBlas.SetThreads(t);
                        fixed (float* pa = a, pw = w, pc = c) OpenBlas.Sgemv(n, k, pw, pa, pc);
                    }));
                var r = BenchTiming.InterleavedSelfTimed(contenders, samples);
                string G(Samples s) => $"{flop / s.Median / 1e9:F0} ({flop / s.Max / 1e9:F0}–{flop / s.Min / 1e9:F0})";
                double ratio = r[1].Median / r[0].Median;
                ratios.Add(ratio);
                Console.WriteLine($"| {name} | {m}×{k}×{n} | {t} | {G(r[0])} | {G(r[1])} | {ratio:F2} |"
                    + (torch ? $" {G(r[iTorch])} | {r[iTorch].Median / r[0].Median:F2} |" : "")
                    + (bf16 ? $" {G(r[iBf16])} |" : "")
                    + (m == 1 ? $" OpenBLAS sgemv: {G(r[^1])}; ours/sgemv {r[^1].Median / r[0].Median:F2}" : ""));
            }
        }
        Console.WriteLine($"# geometric mean ours/OpenBLAS over {ratios.Count} rows: {Math.Exp(ratios.Average(Math.Log)):F3} (M = 1 rows compare our GEMV with sgemm; the sgemv reference is printed beside them)");

        foreach (var srv in servers.Values) srv.Dispose();
        return 0;
    }

    private (Action, Func<double>) Local(Action call) => (() => BenchTiming.WarmUp(call), () => BenchTiming.Sample(call, _minSample));

    private double _minSample = 0.2;

    internal static float[] RandomArray(Random rng, int n)
    {
        var r = GC.AllocateUninitializedArray<float>(n, pinned: true);
        for (int i = 0; i < n; i++) r[i] = (float)(rng.NextDouble() * 2 - 1) * 0.05f;
        return r;
    }
}
