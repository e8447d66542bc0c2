// The fast 1/8-scale JPEG decoder (shrink-on-load) against its reference, TurboJPEG's own 1/8 scaling (= Pillow's
// draft() decode): byte-identical wherever it takes a file, and it declines (never throws) on anything else.
using BatchVlm.Imaging.Decoding;

namespace BatchVlm.Imaging.Tests;

public sealed class JpegEighthDecoderTests
{
    private static RgbImage Reference(byte[] jpeg) => JpegDecoder.Decode(jpeg, 8, n => new byte[n], fastEighth: false);

    private static IEnumerable<string> JpegFiles() =>
        new[] { "images", "pil", "jpeg-restart", "jpeg-corrupt" }.SelectMany(d => Directory.GetFiles(Fixtures.Path_(d), "*.jpg"));

    public static TheoryData<string> Jpegs() => new(JpegFiles().Select(f => Path.GetRelativePath(Fixtures.Dir, f)).Order());

    [Theory]
    [MemberData(nameof(Jpegs))]
    public void TryDecode_FixtureJpeg_IdenticalToTurboJpegEighthOrDeclined(string file)
    {
        var jpeg = File.ReadAllBytes(Path.Combine(Fixtures.Dir, file));
        var fast = JpegEighthDecoder.TryDecode(jpeg, n => new byte[n]);
        var name = Path.GetFileName(file);
        // Baseline 4:2:0, 4:4:4 and grey files must be taken; progressive, 4:2:2 and CMYK are left to TurboJPEG.
        // Files with restart markers (jpeg-restart/) are taken too, and so is jpeg-corrupt/idct2x2_32bit_overflow.jpg,
        // whose corrupt chroma coefficients overflow the 32-bit sums of libjpeg-turbo's SSE2 2x2 IDCT.
        bool expectTaken = !(name.Contains("progressive") || name.Contains("422") || name.Contains("cmyk"));
        Assert.Equal(expectTaken, fast is not null);
        if (fast is null) return;
        var reference = Reference(jpeg);
        Assert.Equal((reference.Width, reference.Height), (fast.Width, fast.Height));
        Assert.Equal(reference.Pixels, fast.Pixels);
    }

    [Fact]
    public void TryDecode_MutatedJpegs_NeverThrowsAndMatchesTurboJpegWhenTaken()
    {
        var seeds = JpegFiles().Select(File.ReadAllBytes).ToArray();
        var rng = new Random(99);
        int taken = 0;
        for (int i = 0; i < 600; i++)
        {
            var data = (byte[])seeds[rng.Next(seeds.Length)].Clone();
            for (int f = rng.Next(1, 4); f > 0; f--) data[rng.Next(2, data.Length)] = (byte)rng.Next(256);
            if (i % 4 == 0) data = data[..rng.Next(2, data.Length)];
            var fast = JpegEighthDecoder.TryDecode(data, n => new byte[n]);
            if (fast is null) continue;
            taken++;
            Assert.Equal(Reference(data).Pixels, fast.Pixels);
        }
        Assert.True(taken > 50, $"only {taken} mutated files were taken");
    }

    [Fact]
    public void TryDecode_SecondFrameHeader_Declined()
    {
        // A second SOF claiming 4000x4000 after the real one: libjpeg refuses it (JERR_SOF_DUPLICATE), and taking its
        // size would bypass the dimension check the caller made on the first.
        var jpeg = Fixtures.Bytes("images", "07_photo_q90_320x240.jpg");
        int sof = jpeg.AsSpan().IndexOf(new byte[] { 0xFF, 0xC0 });
        int len = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(jpeg.AsSpan(sof + 2));
        var second = jpeg.AsSpan(sof, 2 + len).ToArray();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(second.AsSpan(5), 4000);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(second.AsSpan(7), 4000);
        byte[] doubled = [.. jpeg.AsSpan(0, sof + 2 + len), .. second, .. jpeg.AsSpan(sof + 2 + len)];
        Assert.NotNull(JpegEighthDecoder.TryDecode(jpeg, n => new byte[n]));
        Assert.Null(JpegEighthDecoder.TryDecode(doubled, n => new byte[n]));
    }

    [Fact]
    public void DecodeRgb_ShrinkToEighth_SameAsPillowDraftSizeRule()
    {
        // 320x240 with a 40x30 target: min(320/40, 240/30) = 8 → 1/8 → 40x30, the fast decoder's output.
        var jpeg = Fixtures.Bytes("images", "07_photo_q90_320x240.jpg");
        var image = ImageDecoder.DecodeRgb(jpeg, new DecodeOptions { ShrinkTarget = (40, 30) }, out int factor);
        Assert.Equal(8, factor);
        Assert.Equal((40, 30), (image.Width, image.Height));
        Assert.Equal(Reference(jpeg).Pixels, image.Pixels);
        // 41x30 cannot take 1/8 (320 / 41 < 8): 1/4.
        ImageDecoder.DecodeRgb(jpeg, new DecodeOptions { ShrinkTarget = (41, 30) }, out factor);
        Assert.Equal(4, factor);
    }
}
