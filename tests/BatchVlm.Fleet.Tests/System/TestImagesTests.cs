// The system tests' image generator checked against the decoder the inspect task uses (BatchVlm.Imaging): the
// generated PNGs and JPEGs decode to their generated size with the generated pixels' structure, and each corrupt
// file fails with the error kind the system tests then expect in item_errors. Fast, no servers: if this fails, the
// system tests' expectations (not the fleet) are wrong.
using BatchVlm.Imaging;

namespace BatchVlm.Fleet.Tests.SystemTests;

public sealed class TestImagesTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(8, 8)]
    [InlineData(13, 71)]
    [InlineData(333, 129)]
    public void Jpeg_Generated_DecodesToItsSizeWithFlatBlocks(int width, int height)
    {
        var jpeg = TestImages.Jpeg(width, height, seed: 3);
        Assert.Equal((width, height), TestImages.Size(jpeg));
        var info = ImageDecoder.Probe(jpeg);
        Assert.Equal(ImageFormat.Jpeg, info.Format);
        var rgb = ImageDecoder.DecodeRgb(jpeg);
        Assert.Equal((width, height), (rgb.Width, rgb.Height));
        // Flat 8x8 blocks without subsampling: every pixel of a block decodes to the same colour.
        var maxSpread = 0;
        for (var y = 0; y < Math.Min(height, 8); y++)
            for (var x = 0; x < Math.Min(width, 8); x++)
                for (var c = 0; c < 3; c++)
                    maxSpread = Math.Max(maxSpread, Math.Abs(rgb.Pixels[(y * width + x) * 3 + c] - rgb.Pixels[c]));
        Assert.True(maxSpread <= 1, $"first block not flat (spread {maxSpread})");
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(61, 41)]
    public void Png_Generated_DecodesToItsPixels(int width, int height)
    {
        var png = TestImages.Png(width, height, seed: 5);
        Assert.Equal((width, height), TestImages.Size(png));
        var rgb = ImageDecoder.DecodeRgb(png);
        Assert.Equal((width, height), (rgb.Width, rgb.Height));
        var x = width - 1;
        var y = height - 1;
        var at = (y * width + x) * 3;
        Assert.Equal((byte)(x * 255 / Math.Max(1, width - 1)), rgb.Pixels[at]);
        Assert.Equal((byte)(y * 255 / Math.Max(1, height - 1)), rgb.Pixels[at + 1]);
        Assert.Equal((byte)(5 * 37 + x * y), rgb.Pixels[at + 2]);
    }

    [Theory]
    [InlineData(TestImages.CorruptKind.TruncatedJpeg, ImageDecodeErrorKind.Truncated)]
    [InlineData(TestImages.CorruptKind.ZeroBytes, ImageDecodeErrorKind.Empty)]
    [InlineData(TestImages.CorruptKind.TextNamedJpg, ImageDecodeErrorKind.UnsupportedFormat)]
    public void Corrupt_Decoded_FailsWithTheKindTheSystemTestsExpect(TestImages.CorruptKind kind, ImageDecodeErrorKind expected)
    {
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.DecodeRgb(TestImages.Corrupt(kind, seed: 1)));
        Assert.Equal(expected, e.Kind);
        Assert.False(string.IsNullOrWhiteSpace(e.Reason));
    }

    [Fact]
    public void WriteSet_2000WithCorrupt_WritesExactlyThoseFilesOnce()
    {
        var folder = Path.Combine(Path.GetTempPath(), "batchvlm-testimages-" + Guid.NewGuid().ToString("N"));
        try
        {
            var corrupt = FleetStack.StandardCorrupt.ToDictionary(kv => kv.Key, kv => kv.Value.Kind);
            var names = TestImages.WriteSet(folder, 2000, corrupt);
            Assert.Equal(2000, names.Count);
            Assert.Equal(2000, names.Distinct().Count());
            var onDisk = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(folder, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(names, onDisk);
            Assert.All(corrupt.Keys, k => Assert.Contains(k, names));
            Assert.Equal(0, new FileInfo(Path.Combine(folder, "bad/zero-bytes.jpg")).Length);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
