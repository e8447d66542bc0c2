// Locates tests/fixtures/image-processing and reads its (gzipped) safetensors files: the reference tensors the
// Hugging Face processors and Pillow wrote (see tests/fixtures/image-processing/README.md).
using System.IO.Compression;
using System.Text.Json;

namespace BatchVlm.Imaging.Tests;

internal sealed record Tensor(string DType, int[] Shape, byte[] Data)
{
    public float[] AsFloats()
    {
        var f = new float[Data.Length / 4];
        Buffer.BlockCopy(Data, 0, f, 0, Data.Length);
        return f;
    }
}

internal static class Fixtures
{
    public static readonly string Dir = Find();

    private static string Find()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "tests", "fixtures", "image-processing");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException("tests/fixtures/image-processing not found above " + AppContext.BaseDirectory);
    }

    public static string Path_(params string[] parts) => Path.Combine([Dir, .. parts]);

    public static byte[] Bytes(params string[] parts) => File.ReadAllBytes(Path_(parts));

    private static readonly Dictionary<string, Dictionary<string, Tensor>> Cache = new();

    public static Dictionary<string, Tensor> Safetensors(string name)
    {
        lock (Cache)
        {
            if (Cache.TryGetValue(name, out var cached)) return cached;
            byte[] bytes;
            using (var file = File.OpenRead(Path_(name)))
            using (var ms = new MemoryStream())
            {
                if (name.EndsWith(".gz")) { using var gz = new GZipStream(file, CompressionMode.Decompress); gz.CopyTo(ms); }
                else file.CopyTo(ms);
                bytes = ms.ToArray();
            }
            var result = ReadSafetensors(bytes);
            Cache[name] = result;
            return result;
        }
    }

    public static Dictionary<string, Tensor> ReadSafetensors(byte[] bytes)
    {
        {
            long n = BitConverter.ToInt64(bytes, 0);
            using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
            var result = new Dictionary<string, Tensor>();
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "__metadata__") continue;
                var offsets = p.Value.GetProperty("data_offsets");
                long s = offsets[0].GetInt64(), e = offsets[1].GetInt64();
                result[p.Name] = new Tensor(p.Value.GetProperty("dtype").GetString()!,
                    p.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
                    bytes.AsSpan((int)(8 + n + s), (int)(e - s)).ToArray());
            }
            return result;
        }
    }

    public static readonly string[] ImageNames =
    [
        "01_gradient_rgb_64x48.png", "02_noise_rgb_37x91.png", "03_scene_rgb_500x333.png", "04_rgba_96x80.png",
        "05_gray_45x130.png", "06_palette_120x90.png", "07_photo_q90_320x240.jpg", "08_odd_q90_225x223.jpg",
    ];

    /// <summary>Count of differing bytes and the largest absolute difference.</summary>
    public static (int Count, int Max) Diff(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"length {a.Length} vs {b.Length}");
        int count = 0, max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            int d = Math.Abs(a[i] - b[i]);
            if (d != 0) { count++; max = Math.Max(max, d); }
        }
        return (count, max);
    }
}
