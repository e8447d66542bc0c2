// Reads a model fixture folder under tests/fixtures (inputs.safetensors, expected.safetensors) for the Gemma and
// PaliGemma tests, and compares with the fixtures' tolerance: max|ours − ref| ≤ 2e-5 · max(1, max|ref|).
using BatchVlm.Engine.Loading;

namespace BatchVlm.Engine.Tests.Models;

internal sealed class GemmaFixture
{
    private readonly SafetensorsFile _inputs;
    private readonly SafetensorsFile _expected;

    private GemmaFixture(string dir)
    {
        _inputs = SafetensorsFile.Open(Path.Combine(dir, "inputs.safetensors"));
        _expected = SafetensorsFile.Open(Path.Combine(dir, "expected.safetensors"));
    }

    /// <summary>tests/fixtures/<paramref name="name"/>, found by walking up from the test binary.</summary>
    public static string Dir(string name)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "tests", "fixtures", name);
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException($"tests/fixtures/{name} not found above {AppContext.BaseDirectory}");
    }

    public static GemmaFixture Open(string name) => new(Dir(name));

    public long[,] InputIds2D(string name) => To2D(_inputs.ReadInt64(name), _inputs.GetInfo(name).Shape);
    public long[,] Expected2D(string name) => To2D(_expected.ReadInt64(name), _expected.GetInfo(name).Shape);
    public float[] InputFloats(string name) => _inputs.ReadFloat32(name);
    public int[] InputShape(string name) => _inputs.GetInfo(name).Shape;
    public float[] Expected(string name) => _expected.ReadFloat32(name);

    private static long[,] To2D(long[] flat, int[] shape)
    {
        var r = new long[shape[0], shape[1]];
        Buffer.BlockCopy(flat, 0, r, 0, flat.Length * sizeof(long));
        return r;
    }

    /// <summary>Asserts the fixture tolerance; the message gives the worst index and both values.</summary>
    public void AssertClose(string name, float[] ours, double relTol = 2e-5)
    {
        var want = Expected(name);
        Assert.True(want.Length == ours.Length, $"{name}: {ours.Length} values, expected {want.Length}");
        double maxRef = 0, maxDiff = 0;
        int worst = 0;
        for (int i = 0; i < want.Length; i++)
        {
            maxRef = Math.Max(maxRef, Math.Abs(want[i]));
            double d = Math.Abs(ours[i] - (double)want[i]);
            if (!(d <= maxDiff)) { maxDiff = d; worst = i; }
        }
        double tol = relTol * Math.Max(1, maxRef);
        Assert.True(maxDiff <= tol,
            $"{name}: max|diff| {maxDiff:G4} > {tol:G4} at flat index {worst} (ours {ours[worst]}, ref {want[worst]})");
    }
}
