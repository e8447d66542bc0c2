// `./batchvlm bench loading [--size-gb 2.5] [--shard-gb 1] [--dir DIR] [--keep] [--with-f32]`: peak memory of loading
// a large bf16 checkpoint memory-mapped, against loaders that copy, measured in the same run.
// Writes a random bf16 checkpoint with SafetensorsWriter (sharded like save_pretrained, 4096x4096 matrices plus a
// 32000x4096 embedding), then, each in a fresh child process so peak RSS (VmHWM, /proc/self/status) is per mode:
//   mmap-open   SafetensorsCheckpoint + VarBuilder + engine Tensors over every weight, nothing read
//   mmap-touch  the same, then every page of every weight read (what a forward pass does)
//   read-copy   reference: each tensor read into its own native buffer (a loader that copies, e.g. torch.load)
//   f32-copy    reference (--with-f32): each tensor converted to a float32 buffer (2x the bf16 bytes)
// Mapped pages are file-backed (RssFile: page cache, shared, reclaimable); a copy is anonymous (RssAnon).
// "No second full copy" = mmap-touch has RssAnon ≈ the runtime's own, and VmHWM ≈ file size + that.
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Nn;

namespace BatchVlm.Bench.Loading;

public sealed class LoadingBench : IBenchArea
{
    public string Name => "loading";
    public string Description => "peak RSS of loading a multi-GB bf16 checkpoint memory-mapped vs copying loaders";

    private const int Hidden = 4096;

    public int Run(string[] args)
    {
        if (args.Length >= 3 && args[0] == "--child")
            return Child(args[1], args[2]);

        double sizeGb = DoubleArg(args, "--size-gb", 2.5);
        double shardGb = DoubleArg(args, "--shard-gb", 1.0);
        string dir = StringArg(args, "--dir") ?? Path.Combine(Path.GetTempPath(), "batchvlm-bench-loading");
        bool keep = args.Contains("--keep");
        bool withF32 = args.Contains("--with-f32");

        long target = (long)(sizeGb * (1L << 30));
        var clock = Stopwatch.StartNew();
        long fileBytes = WriteCheckpoint(dir, target, (long)(shardGb * (1L << 30)));
        Console.WriteLine($"wrote {Directory.GetFiles(dir, "*.safetensors").Length} safetensors file(s), {fileBytes / 1e9:0.000} GB bf16, in {clock.Elapsed.TotalSeconds:0.0} s ({dir})");
        Console.WriteLine();
        Console.WriteLine($"{"mode",-11} {"VmHWM GB",9} {"RssAnon GB",11} {"RssFile GB",11} {"HWM/file",9} {"time s",7}  notes");

        var modes = new List<string> { "mmap-open", "mmap-touch", "read-copy" };
        if (withF32) modes.Add("f32-copy");
        int rc = 0;
        foreach (var mode in modes)
        {
            var (code, line) = RunChild(mode, dir);
            if (code != 0) rc = code;
            if (line is null) { Console.WriteLine($"{mode,-11} failed (exit {code})"); continue; }
            // child line: hwmKb anonKb fileKb seconds checksum
            var f = line.Split(' ');
            double hwm = long.Parse(f[0], CultureInfo.InvariantCulture) * 1024.0, anon = long.Parse(f[1], CultureInfo.InvariantCulture) * 1024.0,
                file = long.Parse(f[2], CultureInfo.InvariantCulture) * 1024.0;
            string note = mode switch
            {
                "mmap-open" => "weights mapped + wrapped as Tensors, not read",
                "mmap-touch" => "every page read through the mapping",
                "read-copy" => "reference: copy of every tensor in memory",
                _ => "reference: float32 copy of every tensor",
            };
            Console.WriteLine($"{mode,-11} {hwm / 1e9,9:0.000} {anon / 1e9,11:0.000} {file / 1e9,11:0.000} {hwm / fileBytes,9:0.000} {double.Parse(f[3], CultureInfo.InvariantCulture),7:0.00}  {note} (checksum {f[4]})");
        }
        Console.WriteLine();
        Console.WriteLine("VmHWM = peak resident set (file-backed + anonymous); RssAnon/RssFile sampled at the peak's end of the load.");
        if (!keep) Directory.Delete(dir, recursive: true);
        return rc;
    }

    /// <summary>Random bf16 weights: one 32000xH embedding, then HxH matrices until the target size.</summary>
    private static long WriteCheckpoint(string dir, long targetBytes, long shardBytes)
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(dir);
        var writer = new SafetensorsWriter();
        writer.AddGenerated("model.embed_tokens.weight", SafetensorsDtype.BF16, [32000, Hidden], Fill(1));
        long total = 32000L * Hidden * 2;
        for (int i = 0; total < targetBytes; i++)
        {
            writer.AddGenerated($"model.layers.{i / 4}.{(i % 4) switch { 0 => "q_proj", 1 => "k_proj", 2 => "v_proj", _ => "o_proj" }}.weight",
                SafetensorsDtype.BF16, [Hidden, Hidden], Fill((ulong)i + 2));
            total += (long)Hidden * Hidden * 2;
        }
        writer.SaveSharded(dir, shardBytes);
        File.WriteAllText(Path.Combine(dir, "config.json"), """{"model_type":"bench-random","architectures":["BenchRandom"]}""");
        return Directory.GetFiles(dir, "*.safetensors").Sum(f => new FileInfo(f).Length);
    }

    /// <summary>Deterministic bf16 values ~ U(-0.05, 0.05) from a splitmix64 stream keyed by tensor and offset.</summary>
    private static SafetensorsWriter.ChunkFiller Fill(ulong seed) => (offset, chunk) =>
    {
        var halves = MemoryMarshal.Cast<byte, ushort>(chunk);
        ulong state = seed * 0x9E3779B97F4A7C15UL + (ulong)offset;
        for (int i = 0; i < halves.Length; i++)
        {
            state += 0x9E3779B97F4A7C15UL;
            ulong z = state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            float v = ((z >> 40) / (float)(1 << 24) - 0.5f) * 0.1f;
            halves[i] = DtypeConversion.SingleToBFloat16(v);
        }
    };

    private static (int, string?) RunChild(string mode, string dir)
    {
        var psi = new ProcessStartInfo { RedirectStandardOutput = true, UseShellExecute = false };
        string self = Environment.ProcessPath!;
        psi.FileName = self;
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(LoadingBench).Assembly.Location);
        foreach (var a in new[] { "loading", "--child", mode, dir }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        string? line = output.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal));
        return (p.ExitCode, line?["RESULT ".Length..]);
    }

    private static unsafe int Child(string mode, string dir)
    {
        var clock = Stopwatch.StartNew();
        long checksum = 0;
        switch (mode)
        {
            case "mmap-open":
            case "mmap-touch":
                {
                    var source = ModelSource.FromDirectory(dir);
                    using var ckpt = source.OpenCheckpoint();
                    var vb = new VarBuilder(ckpt);
                    var be = CpuBackend.Default;
                    var tensors = ckpt.Keys.Order(StringComparer.Ordinal).Select(k => vb.Tensor(be, k)).ToList();
                    vb.ThrowIfUnused();
                    if (mode == "mmap-touch")
                    {
                        foreach (var key in ckpt.Keys)
                        {
                            var view = vb.GetView(key);
                            byte* p = view.Pointer;
                            for (long i = 0; i < view.Info.ByteLength; i += 4096) checksum += p[i];
                        }
                    }
                    Report(clock, checksum);
                    GC.KeepAlive(tensors);
                    return 0;
                }
            case "read-copy":
            case "f32-copy":
                {
                    using var ckpt = SafetensorsCheckpoint.Open(dir);
                    var buffers = new List<IntPtr>();
                    foreach (var file in ckpt.Files)
                        using (var fs = new FileStream(file.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
                            foreach (var t in file.Tensors)
                            {
                                long bytes = mode == "f32-copy" ? t.ElementCount * 4 : t.ByteLength;
                                byte* dst = (byte*)NativeMemory.Alloc((nuint)bytes);
                                buffers.Add((IntPtr)dst);
                                fs.Position = t.FileOffset;
                                if (mode == "read-copy")
                                {
                                    for (long done = 0; done < bytes;)
                                        done += fs.Read(new Span<byte>(dst + done, (int)Math.Min(1 << 30, bytes - done)));
                                }
                                else
                                {
                                    var src = file.GetBytes(t); // read through the mapping, convert to f32
                                    DtypeConversion.ToFloat32(t.Dtype, src, new Span<float>(dst, (int)t.ElementCount), t.Name);
                                }
                                for (long i = 0; i < bytes; i += 4096) checksum += dst[i];
                            }
                    Report(clock, checksum);
                    foreach (var b in buffers) NativeMemory.Free((void*)b);
                    return 0;
                }
            default:
                Console.Error.WriteLine($"unknown mode {mode}");
                return 2;
        }
    }

    private static void Report(Stopwatch clock, long checksum)
    {
        var status = File.ReadAllLines("/proc/self/status").ToDictionary(l => l.Split(':')[0], l => l.Split(':', 2)[1].Trim());
        string Kb(string key) => status.TryGetValue(key, out var v) ? v.Split(' ')[0] : "0";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT {Kb("VmHWM")} {Kb("RssAnon")} {Kb("RssFile")} {clock.Elapsed.TotalSeconds:0.00} {checksum}"));
    }

    private static double DoubleArg(string[] args, string name, double fallback)
    {
        string? v = StringArg(args, name);
        return v is null ? fallback : double.Parse(v, CultureInfo.InvariantCulture);
    }

    private static string? StringArg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
