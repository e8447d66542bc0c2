// The resampler against Pillow 9.4 (every filter, up and down, odd sizes) and the SIMD kernels against the scalar
// twin on random images, including sizes that exercise the SIMD tails and the end-of-buffer scalar fallback.
using System.Runtime.Intrinsics.X86;
using BatchVlm.Imaging.Resampling;

namespace BatchVlm.Imaging.Tests;

public sealed class PillowResamplerTests
{
    private static Dictionary<string, Tensor> Pil => Fixtures.Safetensors("pil_expected.safetensors.gz");

    public static TheoryData<string, int, int> PilCases()
    {
        var data = new TheoryData<string, int, int>();
        foreach (var f in new[] { "lanczos", "bilinear", "bicubic", "box", "hamming" })
            foreach (var (w, h) in new[] { (17, 13), (53, 19), (29, 41), (97, 67), (40, 90) })
                data.Add(f, w, h);
        return data;
    }

    private static List<ResampleKernel> AvailableKernels()
    {
        var list = new List<ResampleKernel> { ResampleKernel.Scalar };
        if (Avx2.IsSupported) list.Add(ResampleKernel.Avx2);
        if (Avx512F.IsSupported && Avx512BW.IsSupported) list.Add(ResampleKernel.Avx512);
        return list;
    }

    public static TheoryData<ResampleKernel> Kernels() => new(AvailableKernels());

    [Theory]
    [MemberData(nameof(PilCases))]
    public void Resize_EveryFilterAndKernel_BitIdenticalToPillow(string filter, int w, int h)
    {
        var src = Pil["resample.source"];
        var image = new RgbImage(src.Shape[1], src.Shape[0], src.Data);
        var f = Enum.Parse<ResampleFilter>(filter, ignoreCase: true);
        var expected = Pil[$"resample.{filter}.{w}x{h}"].Data;
        foreach (var kernel in AvailableKernels())
        {
            var actual = PillowResampler.Resize(image, w, h, f, kernel);
            Assert.True(Fixtures.Diff(actual.Pixels, expected) == (0, 0), $"{kernel} differs from Pillow for {filter} {w}x{h}");
        }
    }

    private static readonly (int, int, int, int)[] Edge =
        [(1, 1, 7, 3), (641, 479, 224, 224), (3, 500, 224, 1), (224, 300, 224, 97), (640, 224, 301, 224)];

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Resize_RandomOddSizes_SimdEqualsScalar(ResampleKernel kernel)
    {
        var rng = new Random(1234);
        for (int trial = 0; trial < 60; trial++)
        {
            int sw = rng.Next(1, 300), sh = rng.Next(1, 200), dw = rng.Next(1, 260), dh = rng.Next(1, 260);
            if (trial < Edge.Length) (sw, sh, dw, dh) = Edge[trial];
            var filter = (ResampleFilter)rng.Next(1, 6);
            var pixels = new byte[sw * sh * 3];
            rng.NextBytes(pixels);
            var src = new RgbImage(sw, sh, pixels);
            var scalar = PillowResampler.Resize(src, dw, dh, filter, ResampleKernel.Scalar);
            var fast = PillowResampler.Resize(src, dw, dh, filter, kernel);
            Assert.True(Fixtures.Diff(fast.Pixels, scalar.Pixels) == (0, 0), $"{kernel} vs scalar: {sw}x{sh} -> {dw}x{dh} {filter}");
        }
    }

    [Fact]
    public void Resize_SameSize_CopiesLikePillow()
    {
        var pixels = Enumerable.Range(0, 5 * 4 * 3).Select(i => (byte)(i * 7)).ToArray();
        var result = PillowResampler.Resize(new RgbImage(5, 4, pixels), 5, 4, ResampleFilter.Bicubic);
        Assert.Equal(pixels, result.Pixels);
    }

    [Fact]
    public void Coefficients_Bicubic640To224_NormalisedFixedPointSumsToOne()
    {
        var c = ResampleCoefficients.Compute(640, 0, 640, 224, ResampleFilter.Bicubic);
        Assert.Equal((int)Math.Ceiling(2.0 * 640 / 224) * 2 + 1, c.KSize);
        for (int x = 0; x < 224; x++)
        {
            long sum = 0;
            for (int k = 0; k < c.KSize; k++) sum += c.Weights[x * c.KSize + k];
            Assert.InRange(sum, (1 << 22) - c.KSize, (1 << 22) + c.KSize);
        }
    }

    [Fact]
    public void CoefficientCache_ManyDistinctSizes_StaysWithinByteBudget()
    {
        // 400 source widths reduced to 224 with Lanczos hold about 450 KB of tables each (180 MB in all).
        for (int n = 0; n < 400; n++) CoefficientCache.Get(2000 + n, 224, ResampleFilter.Lanczos);
        // Slack for tables other tests add at the same time.
        Assert.True(CoefficientCache.CachedBytes <= CoefficientCache.MaxBytes + (16L << 20),
            $"cache holds {CoefficientCache.CachedBytes} bytes, budget {CoefficientCache.MaxBytes}");
    }
}
