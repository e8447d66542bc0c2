// `batchvlm bench blip2`: the BLIP-2 OPT-2.7b captioning path after the vision tower — Q-Former (the real size:
// hidden 768, 12 layers, 32 queries, cross-attention every 2nd layer to 257 × 1408 image features) + language
// projection → OPT at OPT-2.7b width (hidden 2560, 32 heads, FFN 10240, vocab 50272, 2 and 4 layers) prefill of
// [32 queries; bos + 7 prompt tokens] and 8 greedy cached decode steps — through Blip2ForConditionalGeneration on
// the CPU backend, against PyTorch measured in the same run (blip2_torch.py: HF's Blip2QFormerModel / OPTDecoder
// math in plain torch, static KV cache, OMP_WAIT_POLICY=PASSIVE, OpenBLAS at its AVX-512 best).
// Fairness on a shared machine: the torch script runs as a server; every measurement warms both up and then takes
// its samples interleaved (ours, torch, ours, torch, …), so background load hits both alike. Method of
// shared/research/baselines.md: warm-up ≥ 0.3 s, samples ≥ 0.5 s, median (min–max). Both sides compute the LM head
// for the last prompt position only (HF 4.46.1 OPT computes it for every position; that is left out on purpose so
// the same work is compared).
// Rows: qformer (Q-Former + projection, per batch), prefill, decode (8 steps), caption (all of it: Q-Former,
// merge, prefill, 8 greedy steps through Generator). Per-layer OPT figures = (4-layer − 2-layer) / 2.
// Options: --layers 2,4  --batches 1,4  --steps 8  --samples 3  --threads 2  --no-torch  --dir DIR
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using BatchVlm.Bench.Engine;
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Models;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Bench.Blip2;

public sealed class Blip2Bench : IBenchArea
{
    public string Name => "blip2";
    public string Description => "BLIP-2 OPT-2.7b-width Q-Former + OPT prefill/decode/caption vs PyTorch (interleaved samples)";

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    internal const int Queries = 32, ImageTokens = 257, VisionHidden = 1408, QHidden = 768, QLayers = 12, QHeads = 12, QInter = 3072;
    internal const int Hidden = 2560, Heads = 32, Ffn = 10240, Vocab = 50272, ImageTokenIndex = 50265, PromptTokens = 8;

    public int Run(string[] args)
    {
        string dir = BenchTiming.Arg(args, "--dir", Path.Combine(Path.GetTempPath(), "batchvlm-bench-blip2"));
        var layerCounts = BenchTiming.Arg(args, "--layers", "2,4").Split(',').Select(int.Parse).ToArray();
        var batches = BenchTiming.Arg(args, "--batches", "1,4").Split(',').Select(int.Parse).ToArray();
        int steps = int.Parse(BenchTiming.Arg(args, "--steps", "8"), Inv);
        int samples = int.Parse(BenchTiming.Arg(args, "--samples", "3"), Inv);
        int threads = int.Parse(BenchTiming.Arg(args, "--threads", "2"), Inv);
        bool torch = !args.Contains("--no-torch");

        Console.WriteLine($"# BLIP-2 OPT-2.7b-width path: Q-Former (C {QHidden}, {QLayers} layers, {Queries} queries, image {ImageTokens}x{VisionHidden}) + projection + OPT (C {Hidden}, {Heads} heads, FFN {Ffn}, vocab {Vocab}); random f32 weights");
        Console.WriteLine($"# ours: CpuBackend ({CpuBackend.Default.Threads} threads); torch {threads} threads; prompt {Queries} queries + {PromptTokens} tokens; decode {steps} steps; median (min–max) of {samples} interleaved samples");
        Console.WriteLine($"# load at start: {File.ReadAllText("/proc/loadavg").Trim()}");

        using var server = torch ? new TorchServer(Path.Combine(BenchTiming.RepoRoot(), "bench", "BatchVlm.Bench", "Blip2", "blip2_torch.py"), threads, steps) : null;
        var rows = new List<(string Bench, int Layers, int Batch, Samples Ours, Samples? Torch)>();
        var be = CpuBackend.Default;
        foreach (int layers in layerCounts)
        {
            string ckpt = Path.Combine(dir, $"blip2-opt2560-{layers}l");
            if (!File.Exists(Path.Combine(ckpt, "model.safetensors")))
            {
                var sw = Stopwatch.StartNew();
                long bytes = WriteCheckpoint(ckpt, layers, seed: (ulong)layers);
                Console.WriteLine($"# wrote {ckpt} ({bytes / 1e6:0} MB) in {sw.Elapsed.TotalSeconds:0.0} s");
            }
            using var model = Blip2ForConditionalGeneration.Load(ckpt, be);
            server?.Load(layers);
            var opt = model.Opt!;
            foreach (int b in batches)
            {
                var rng = new Random(11 + b);
                var image = new float[b * ImageTokens * VisionHidden];
                for (int i = 0; i < image.Length; i++) image[i] = (float)(rng.NextDouble() * 2 - 1);
                using var imageT = be.FromFloats(image, b, ImageTokens, VisionHidden);
                var ids = new long[b, Queries + PromptTokens];
                for (int r = 0; r < b; r++)
                    for (int j = 0; j < Queries + PromptTokens; j++)
                        ids[r, j] = j < Queries ? ImageTokenIndex : j == Queries ? 2 : rng.Next(4, 50000);
                var greedy = new GenerationOptions { MaxNewTokens = steps };

                Tensor Queried()
                {
                    using var q = model.Front.QueryTokens.Expand(b, Queries, QHidden);
                    using var h = model.Front.QFormer.Forward(q, Queries, null, imageT);
                    return model.ProjectQueries(h);                                  // (B, Q, 2560)
                }

                using var projected = Queried();
                var (embeds, mask) = model.MergeInputs(ids, null, projected);
                using (embeds)
                {
                    if (layers == layerCounts[0])
                        rows.Add(("qformer", 0, b, Measure(() => Queried().Dispose(), () => server!.Sample("qformer", b), samples, server), server is null ? null : Last));
                    rows.Add(("prefill", layers, b, Measure(() =>
                    {
                        var p = opt.PrefillEmbeds(embeds, mask, steps);
                        p.LastLogits.Dispose();
                        p.State.Dispose();
                    }, () => server!.Sample("prefill", b), samples, server), server is null ? null : Last));

                    var prefilled = opt.PrefillEmbeds(embeds, mask, steps);
                    prefilled.LastLogits.Dispose();
                    var state = (CausalLmDecoderState)prefilled.State;
                    var tokens = Enumerable.Range(0, b).Select(i => 5 + i).ToArray();
                    rows.Add(("decode", layers, b, Measure(() =>
                    {
                        for (int s = 0; s < steps; s++) opt.DecodeStep(state, tokens).Dispose();
                        state.Rewind(Queries + PromptTokens);
                    }, () => server!.Sample("decode", b), samples, server), server is null ? null : Last));
                    state.Dispose();

                    rows.Add(("caption", layers, b, Measure(() =>
                    {
                        using var proj = Queried();
                        var (e, m) = model.MergeInputs(ids, null, proj);
                        using (e) Generator.Generate(opt, opt.PrefillEmbeds(e, m, steps), greedy);
                    }, () => server!.Sample("caption", b), samples, server), server is null ? null : Last));
                }
                var r0 = rows[^1];
                Console.WriteLine($"#   {layers} layers, batch {b}: caption ours {r0.Ours.Median * 1e3:0} ms{(r0.Torch is null ? "" : $", torch {r0.Torch.Median * 1e3:0} ms")}");
            }
        }
        Console.WriteLine($"# load at end: {File.ReadAllText("/proc/loadavg").Trim()}");

        Console.WriteLine();
        Console.WriteLine("| bench | OPT layers | batch | ours ms | torch ms | ours time / torch time |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var r in rows)
        {
            string t = r.Torch is null ? "-" : $"{r.Torch.Median * 1e3:0.0} ({r.Torch.Min * 1e3:0.0}–{r.Torch.Max * 1e3:0.0})";
            string ratio = r.Torch is null ? "-" : (r.Ours.Median / r.Torch.Median).ToString("0.00", Inv);
            Console.WriteLine($"| {r.Bench} | {(r.Layers == 0 ? "-" : r.Layers.ToString(Inv))} | {r.Batch} | {r.Ours.Median * 1e3:0.0} ({r.Ours.Min * 1e3:0.0}–{r.Ours.Max * 1e3:0.0}) | {t} | {ratio} |");
        }
        if (layerCounts.Contains(2) && layerCounts.Contains(4))
        {
            Console.WriteLine();
            Console.WriteLine("Per OPT layer ((4-layer − 2-layer) / 2, medians; decode per step):");
            Console.WriteLine("| bench | batch | ours ms/layer | torch ms/layer | ours/torch |");
            Console.WriteLine("|---|---|---|---|---|");
            foreach (var bench in new[] { "prefill", "decode" })
                foreach (int b in batches)
                {
                    var r2 = rows.First(r => r.Bench == bench && r.Layers == 2 && r.Batch == b);
                    var r4 = rows.First(r => r.Bench == bench && r.Layers == 4 && r.Batch == b);
                    double div = bench == "decode" ? 2.0 * steps : 2.0;
                    double o = (r4.Ours.Median - r2.Ours.Median) / div;
                    double? t = r4.Torch is null || r2.Torch is null ? null : (r4.Torch.Median - r2.Torch.Median) / div;
                    Console.WriteLine($"| {bench} | {b} | {o * 1e3:0.00} | {(t is null ? "-" : (t.Value * 1e3).ToString("0.00", Inv))} | {(t is null ? "-" : (o / t.Value).ToString("0.00", Inv))} |");
                }
        }
        return 0;
    }

    [ThreadStatic] private static Samples? _last;
    private static Samples Last => _last!;

    /// <summary>Warms both up, then <paramref name="samples"/> rounds of (ours, torch); the torch samples land in <see cref="Last"/>.</summary>
    private static Samples Measure(Action ours, Func<double> torchSample, int samples, TorchServer? server)
    {
        BenchTiming.WarmUp(ours); // the torch server warms up (≥ 0.3 s) before its first sample of each row
        var o = new Samples();
        var t = new Samples();
        for (int i = 0; i < samples; i++)
        {
            o.PerCallSeconds.Add(BenchTiming.Sample(ours, 0.5));
            if (server is not null) t.PerCallSeconds.Add(torchSample());
        }
        _last = t;
        return o;
    }

    /// <summary>blip2_torch.py in server mode: "load L", "sample BENCH B" (≥ 0.5 s, prints seconds per call), "quit".</summary>
    private sealed class TorchServer : IDisposable
    {
        private readonly Process _p;

        public TorchServer(string script, int threads, int steps)
        {
            _p = Process.Start(BenchTiming.PythonStartInfo(script, $"--threads {threads} --steps {steps}", threads, stdin: true))
                ?? throw new InvalidOperationException("could not start /usr/bin/python3");
            _ = _p.StandardError.ReadToEndAsync().ContinueWith(e => { if (!string.IsNullOrWhiteSpace(e.Result)) Console.Error.Write(e.Result); });
        }

        private string Ask(string command)
        {
            _p.StandardInput.WriteLine(command);
            _p.StandardInput.Flush();
            return _p.StandardOutput.ReadLine() ?? throw new InvalidOperationException($"blip2_torch.py ended while answering '{command}' (exit {(_p.HasExited ? _p.ExitCode : -1)})");
        }

        public void Load(int layers)
        {
            var r = Ask($"load {layers}");
            if (r != "ok") throw new InvalidOperationException($"blip2_torch.py: {r}");
        }

        public double Sample(string bench, int batch) => double.Parse(Ask($"sample {bench} {batch}"), Inv);

        public void Dispose()
        {
            try { _p.StandardInput.WriteLine("quit"); _p.WaitForExit(10000); } catch (IOException) { }
            if (!_p.HasExited) _p.Kill();
            _p.Dispose();
        }
    }

    // ------------------------------------------------------------------------------------------ random checkpoint

    /// <summary>config.json + model.safetensors of a Blip2ForConditionalGeneration with the shapes above (vision
    /// tower 1 layer: it is loaded but not run). Returns the weight bytes.</summary>
    internal static long WriteCheckpoint(string dir, int optLayers, ulong seed)
    {
        Directory.CreateDirectory(dir);
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("Blip2ForConditionalGeneration"),
            ["model_type"] = "blip-2",
            ["num_query_tokens"] = Queries,
            ["image_token_index"] = ImageTokenIndex,
            ["vision_config"] = new JsonObject { ["hidden_size"] = VisionHidden, ["intermediate_size"] = 6144, ["num_hidden_layers"] = 1, ["num_attention_heads"] = 16, ["image_size"] = 224, ["patch_size"] = 14 },
            ["qformer_config"] = new JsonObject { ["hidden_size"] = QHidden, ["num_hidden_layers"] = QLayers, ["num_attention_heads"] = QHeads, ["intermediate_size"] = QInter, ["encoder_hidden_size"] = VisionHidden },
            ["text_config"] = new JsonObject
            {
                ["model_type"] = "opt", ["hidden_size"] = Hidden, ["ffn_dim"] = Ffn, ["num_attention_heads"] = Heads, ["num_hidden_layers"] = optLayers,
                ["vocab_size"] = Vocab, ["word_embed_proj_dim"] = Hidden, ["max_position_embeddings"] = 2048, ["bos_token_id"] = 2, ["eos_token_id"] = 50118, ["pad_token_id"] = 1,
            },
        };
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        var w = new SafetensorsWriter();
        ulong k = seed * 100000;
        void Lin(string p, int o, int i, bool bias = true)
        {
            Add(w, p + ".weight", [o, i], 1f / MathF.Sqrt(i), 0, ++k);
            if (bias) Add(w, p + ".bias", [o], 0.02f, 0, ++k);
        }
        void Ln(string p, int n)
        {
            Add(w, p + ".weight", [n], 0.02f, 1, ++k);
            Add(w, p + ".bias", [n], 0.02f, 0, ++k);
        }
        int v = VisionHidden;
        Add(w, "vision_model.embeddings.class_embedding", [1, 1, v], 0.02f, 0, ++k);
        Add(w, "vision_model.embeddings.patch_embedding.weight", [v, 3, 14, 14], 1f / MathF.Sqrt(3 * 14 * 14), 0, ++k);
        Add(w, "vision_model.embeddings.patch_embedding.bias", [v], 0.02f, 0, ++k);
        Add(w, "vision_model.embeddings.position_embedding", [1, 257, v], 0.02f, 0, ++k);
        Lin("vision_model.encoder.layers.0.self_attn.qkv", 3 * v, v);
        Lin("vision_model.encoder.layers.0.self_attn.projection", v, v);
        Lin("vision_model.encoder.layers.0.mlp.fc1", 6144, v);
        Lin("vision_model.encoder.layers.0.mlp.fc2", v, 6144);
        Ln("vision_model.encoder.layers.0.layer_norm1", v);
        Ln("vision_model.encoder.layers.0.layer_norm2", v);
        Ln("vision_model.post_layernorm", v);
        Add(w, "query_tokens", [1, Queries, QHidden], 0.02f, 0, ++k);
        Ln("qformer.layernorm", QHidden);
        for (int l = 0; l < QLayers; l++)
        {
            string p = $"qformer.encoder.layer.{l}.";
            foreach (var (name, kv) in l % 2 == 0 ? new[] { ("attention", QHidden), ("crossattention", v) } : [("attention", QHidden)])
            {
                Lin(p + name + ".attention.query", QHidden, QHidden);
                Lin(p + name + ".attention.key", QHidden, kv);
                Lin(p + name + ".attention.value", QHidden, kv);
                Lin(p + name + ".output.dense", QHidden, QHidden);
                Ln(p + name + ".output.LayerNorm", QHidden);
            }
            Lin(p + "intermediate_query.dense", QInter, QHidden);
            Lin(p + "output_query.dense", QHidden, QInter);
            Ln(p + "output_query.LayerNorm", QHidden);
        }
        Lin("language_projection", Hidden, QHidden);
        string d = "language_model.model.decoder.";
        Add(w, d + "embed_tokens.weight", [Vocab, Hidden], 0.02f, 0, ++k);
        Add(w, d + "embed_positions.weight", [2048 + 2, Hidden], 0.02f, 0, ++k);
        Ln(d + "final_layer_norm", Hidden);
        for (int l = 0; l < optLayers; l++)
        {
            string p = $"{d}layers.{l}.";
            foreach (var n in new[] { "q_proj", "k_proj", "v_proj", "out_proj" }) Lin(p + "self_attn." + n, Hidden, Hidden);
            Ln(p + "self_attn_layer_norm", Hidden);
            Lin(p + "fc1", Ffn, Hidden);
            Lin(p + "fc2", Hidden, Ffn);
            Ln(p + "final_layer_norm", Hidden);
        }
        return w.Save(Path.Combine(dir, "model.safetensors"));
    }

    /// <summary>f32 uniform values with standard deviation <paramref name="std"/> around <paramref name="mean"/> from a
    /// seeded xorshift stream, generated chunk by chunk while writing.</summary>
    private static void Add(SafetensorsWriter w, string name, int[] shape, float std, float mean, ulong seed)
    {
        float half = std * MathF.Sqrt(3f);
        w.AddGenerated(name, SafetensorsDtype.F32, shape, (offset, chunk) =>
        {
            ulong x = (seed * 0x9E3779B97F4A7C15UL) ^ (ulong)(offset / 4 + 1) * 0xD1B54A32D192ED03UL;
            if (x == 0) x = 1;
            var dst = MemoryMarshal.Cast<byte, float>(chunk);
            for (int i = 0; i < dst.Length; i++)
            {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                dst[i] = mean + half * ((int)(x >> 32) * (1f / 2147483648f));
            }
        });
    }
}
