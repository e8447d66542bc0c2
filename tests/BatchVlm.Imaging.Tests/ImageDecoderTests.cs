// Decoding against Pillow 9.4 itself (exif_transpose + convert("RGB") for each PIL mode and container), and the
// hostile-input contract: every bad input gives one specific ImageDecodeErrorKind, never a crash or a hang.
using System.Buffers.Binary;
using System.Diagnostics;

namespace BatchVlm.Imaging.Tests;

public sealed class ImageDecoderTests
{
    private static Dictionary<string, Tensor> Pil => Fixtures.Safetensors("pil_expected.safetensors.gz");

    public static TheoryData<string> PilFiles() =>
        new(Directory.GetFiles(Fixtures.Path_("pil")).Select(Path.GetFileName).Order().Select(f => f!));

    [Theory]
    [MemberData(nameof(PilFiles))]
    public void DecodeRgb_PilMode_MatchesPillowExifTransposeConvertRgb(string file)
    {
        var expected = Pil[file];
        var image = ImageDecoder.DecodeRgb(Fixtures.Bytes("pil", file));
        Assert.Equal((expected.Shape[1], expected.Shape[0]), (image.Width, image.Height));
        var (count, max) = Fixtures.Diff(image.Pixels, expected.Data);
        Assert.True(count == 0, $"{file}: {count} bytes differ from Pillow, max {max}");
    }

    [Theory]
    [InlineData("orient1.jpg", 1)]
    [InlineData("orient6.jpg", 6)]
    [InlineData("orient8.jpg", 8)]
    [InlineData("orient6.png", 6)]
    public void Probe_ExifOrientation_ReadFromHeader(string file, int orientation)
    {
        var info = ImageDecoder.Probe(Fixtures.Bytes("pil", file));
        Assert.Equal(orientation, info.ExifOrientation);
        Assert.Equal((37, 29), (info.Width, info.Height));
        Assert.Equal(orientation >= 5 ? (29, 37) : (37, 29), info.OrientedSize);
    }

    [Theory]
    [InlineData("rgb_q90.jpg", ImageFormat.Jpeg, 3, 1)]
    [InlineData("grey.jpg", ImageFormat.Jpeg, 1, 1)]
    [InlineData("cmyk.jpg", ImageFormat.Jpeg, 4, 1)]
    [InlineData("rgba.png", ImageFormat.Png, 4, 1)]
    [InlineData("palette.png", ImageFormat.Png, 1, 1)]
    [InlineData("animated.gif", ImageFormat.Gif, 1, 3)]
    [InlineData("animated.webp", ImageFormat.WebP, 4, 3)] // lossless animation: VP8X alpha flag set
    [InlineData("lossy.webp", ImageFormat.WebP, 3, 1)]
    [InlineData("rgb.tiff", ImageFormat.Tiff, 3, 1)]
    [InlineData("rgb24.bmp", ImageFormat.Bmp, 3, 1)]
    [InlineData("palette8.bmp", ImageFormat.Bmp, 1, 1)]
    public void Probe_KnownFormats_ReportsFormatBandsFrames(string file, ImageFormat format, int bands, int frames)
    {
        var info = ImageDecoder.Probe(Fixtures.Bytes("pil", file));
        Assert.Equal(format, info.Format);
        Assert.Equal((37, 29), (info.Width, info.Height));
        Assert.Equal(bands, info.Bands);
        Assert.Equal(frames, info.FrameCount);
    }

    // ---------------- hostile inputs: one test per kind ----------------

    private static ImageDecodeException Fails(byte[] data, DecodeOptions? options = null)
    {
        var sw = Stopwatch.StartNew();
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.DecodeRgb(data, options));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");
        return e;
    }

    [Fact]
    public void DecodeRgb_ZeroBytes_Empty()
    {
        Assert.Equal(ImageDecodeErrorKind.Empty, Fails([]).Kind);
        Assert.Equal(ImageDecodeErrorKind.Empty, Assert.Throws<ImageDecodeException>(() => ImageDecoder.Probe([])).Kind);
    }

    [Fact]
    public void DecodeRgb_TruncatedJpeg_TruncatedLikePillow()
    {
        var jpeg = Fixtures.Bytes("images", "07_photo_q90_320x240.jpg");
        var e = Fails(jpeg[..(jpeg.Length / 2)]);
        Assert.Equal(ImageDecodeErrorKind.Truncated, e.Kind);
        Assert.Contains("truncated", e.Reason);
    }

    [Fact]
    public void DecodeRgb_JpegMissingOnlyEoi_DecodesLikePillow()
    {
        var jpeg = Fixtures.Bytes("images", "07_photo_q90_320x240.jpg");
        var full = ImageDecoder.DecodeRgb(jpeg);
        Assert.Equal(full.Pixels, ImageDecoder.DecodeRgb(jpeg[..^2]).Pixels);
        // Trailing garbage after EOI is ignored, as libjpeg stops at EOI.
        Assert.Equal(full.Pixels, ImageDecoder.DecodeRgb([.. jpeg, .. "trailing garbage"u8.ToArray()]).Pixels);
    }

    [Fact]
    public void DecodeRgb_JpegWithLibjpegWarningInHeader_DecodesLikePillow()
    {
        // An unknown JFIF major version is only a libjpeg warning; TurboJPEG reports it as a failure, Pillow ignores it.
        var jpeg = (byte[])Fixtures.Bytes("images", "07_photo_q90_320x240.jpg").Clone();
        int jfif = jpeg.AsSpan().IndexOf("JFIF\0"u8);
        Assert.True(jfif > 0);
        jpeg[jfif + 5] = 50;
        var expected = Fixtures.Safetensors("expected.safetensors.gz")["07_photo_q90_320x240.decoded_rgb"].Data;
        Assert.Equal(expected, ImageDecoder.DecodeRgb(jpeg).Pixels);
    }

    [Fact]
    public void DecodeRgb_JpegCutInsideHeader_Truncated()
    {
        var jpeg = Fixtures.Bytes("images", "07_photo_q90_320x240.jpg");
        Assert.Equal(ImageDecodeErrorKind.Truncated, Fails(jpeg[..100]).Kind);
    }

    [Fact]
    public void DecodeRgb_TruncatedPng_Truncated()
    {
        var png = Fixtures.Bytes("images", "03_scene_rgb_500x333.png");
        var e = Fails(png[..(png.Length / 2)]);
        Assert.True(e.Kind is ImageDecodeErrorKind.Truncated, $"{e.Kind}: {e.Reason}");
    }

    [Fact]
    public void DecodeRgb_CorruptJpegHeader_Corrupt()
    {
        var jpeg = Fixtures.Bytes("images", "07_photo_q90_320x240.jpg");
        int sof = jpeg.AsSpan().IndexOf(new byte[] { 0xFF, 0xC0 });
        var bad = (byte[])jpeg.Clone();
        bad[sof + 9] = 7; // component count 7 in SOF0
        var e = Fails(bad);
        Assert.Equal(ImageDecodeErrorKind.UnsupportedFeature, e.Kind);
        int dht = jpeg.AsSpan().IndexOf(new byte[] { 0xFF, 0xC4 });
        bad = (byte[])jpeg.Clone();
        for (int i = dht + 4; i < dht + 40; i++) bad[i] = 0xFF; // Huffman table counts exceed 256
        Assert.Equal(ImageDecodeErrorKind.Corrupt, Fails(bad).Kind);
    }

    [Fact]
    public void DecodeRgb_ValidJpegAfterCorruptOneOnSameThread_Decodes()
    {
        // Regression: TurboJPEG kept the failed image's decoder state on the thread's handle, so the next valid
        // file failed with "Bogus Huffman table definition".
        var jpeg = Fixtures.Bytes("images", "07_photo_q90_320x240.jpg");
        int dht = jpeg.AsSpan().IndexOf(new byte[] { 0xFF, 0xC4 });
        var bad = (byte[])jpeg.Clone();
        for (int i = dht + 4; i < dht + 40; i++) bad[i] = 0xFF;
        var expected = Fixtures.Safetensors("expected.safetensors.gz")["07_photo_q90_320x240.decoded_rgb"].Data;
        for (int round = 0; round < 3; round++)
        {
            Assert.Throws<ImageDecodeException>(() => ImageDecoder.DecodeRgb(bad));
            Assert.Throws<ImageDecodeException>(() => ImageDecoder.DecodeRgb(jpeg[..(jpeg.Length / 3)]));
            Assert.Equal(expected, ImageDecoder.DecodeRgb(jpeg).Pixels);
        }
    }

    [Fact]
    public void DecodeRgb_CorruptPngData_Corrupt()
    {
        var png = (byte[])Fixtures.Bytes("images", "03_scene_rgb_500x333.png").Clone();
        for (int i = 200; i < 2000; i++) png[i] ^= 0x5A; // damage the zlib stream inside IDAT (CRC now wrong too)
        var e = Fails(png);
        Assert.True(e.Kind is ImageDecodeErrorKind.Corrupt or ImageDecodeErrorKind.Truncated, $"{e.Kind}: {e.Reason}");
        Assert.Equal(ImageDecodeErrorKind.Corrupt, e.Kind);
    }

    [Fact]
    public void DecodeRgb_NonImage_UnsupportedFormat()
    {
        var e = Fails("%PDF-1.4 this is not an image\n"u8.ToArray());
        Assert.Equal(ImageDecodeErrorKind.UnsupportedFormat, e.Kind);
        Assert.Equal(ImageDecodeErrorKind.UnsupportedFormat, Fails("<html><body>hello</body></html>"u8.ToArray()).Kind);
    }

    [Fact]
    public void DecodeRgb_TruncatedBmpAndGif_Truncated()
    {
        var bmp = Fixtures.Bytes("pil", "rgb24.bmp");
        Assert.Equal(ImageDecodeErrorKind.Truncated, Fails(bmp[..(bmp.Length - 10)]).Kind);
        var gif = Fixtures.Bytes("pil", "still.gif");
        Assert.Equal(ImageDecodeErrorKind.Truncated, Fails(gif[..(gif.Length / 2)]).Kind);
    }

    [Fact]
    public void DecodeRgb_BmpHeightIntMinValue_InvalidDimensions()
    {
        // -2^31 rows has no absolute value; the header probe once threw OverflowException here.
        var bmp = (byte[])Fixtures.Bytes("pil", "rgb24.bmp").Clone();
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), int.MinValue);
        Assert.Equal(0, ImageDecoder.Probe(bmp).Height);
        Assert.Equal(ImageDecodeErrorKind.InvalidDimensions, Fails(bmp).Kind);
    }

    [Fact]
    public void DecodeRgb_WrongExtension_SniffsContentNotName()
    {
        // A PNG's bytes handed over as if they were "photo.jpg": the format comes from the magic bytes.
        var png = Fixtures.Bytes("images", "01_gradient_rgb_64x48.png");
        Assert.Equal(ImageFormat.Png, ImageDecoder.Probe(png).Format);
        var expected = Fixtures.Safetensors("expected.safetensors.gz")["01_gradient_rgb_64x48.decoded_rgb"].Data;
        Assert.Equal(expected, ImageDecoder.DecodeRgb(png).Pixels);
    }

    [Fact]
    public void DecodeRgb_DecompressionBomb_TooManyPixelsBeforeDecoding()
    {
        // A 1 KB PNG header claiming 20000 x 20000 (400 M pixels > 178,956,970); there is no pixel data at all, so the
        // error can only come from the header check.
        var png = PngHeader(20000, 20000);
        var sw = Stopwatch.StartNew();
        var e = Fails(png);
        Assert.Equal(ImageDecodeErrorKind.TooManyPixels, e.Kind);
        Assert.Contains("178956970", e.Reason);
        Assert.True(sw.ElapsedMilliseconds < 500);
        // The same check on a real JPEG with a configured lower limit.
        var jpeg = Fixtures.Bytes("images", "07_photo_q90_320x240.jpg");
        Assert.Equal(ImageDecodeErrorKind.TooManyPixels, Fails(jpeg, new DecodeOptions { MaxPixels = 320 * 240 - 1 }).Kind);
        Assert.Equal(320, ImageDecoder.DecodeRgb(jpeg, new DecodeOptions { MaxPixels = 320 * 240 }).Width);
    }

    [Fact]
    public void DecodeRgb_HugeDimensions_InvalidDimensions()
    {
        Assert.Equal(ImageDecodeErrorKind.InvalidDimensions, Fails(PngHeader(1_000_000, 1)).Kind);   // beyond 65,500
        Assert.Equal(ImageDecodeErrorKind.InvalidDimensions, Fails(PngHeader(0, 10)).Kind);
        // JPEG SOF with a 0 height.
        var jpeg = (byte[])Fixtures.Bytes("images", "07_photo_q90_320x240.jpg").Clone();
        int sof = jpeg.AsSpan().IndexOf(new byte[] { 0xFF, 0xC0 });
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 5), 0);
        Assert.Equal(ImageDecodeErrorKind.InvalidDimensions, Fails(jpeg).Kind);
    }

    [Fact]
    public void DecodeRgb_AnimatedGifAndWebP_FirstFrameLikePillow()
    {
        foreach (var file in new[] { "animated.gif", "animated.webp" })
        {
            var image = ImageDecoder.DecodeRgb(Fixtures.Bytes("pil", file));
            Assert.Equal(Pil[file].Data, image.Pixels);
            // Frame 1 was the mirror image: make sure we did not pick it.
            Assert.NotEqual(Pil["rgb.tiff"].Data.Reverse(), image.Pixels);
        }
    }

    [Theory]
    [InlineData("cmyk.jpg")]
    [InlineData("cmyk_icc.jpg")]
    [InlineData("cmyk_noadobe.jpg")]
    public void DecodeRgb_CmykJpeg_PillowCmykToRgbIgnoringIcc(string file) =>
        Assert.Equal(Pil[file].Data, ImageDecoder.DecodeRgb(Fixtures.Bytes("pil", file)).Pixels);

    [Theory]
    [InlineData("grey16.png")]
    [InlineData("grey16_low.png")]
    [InlineData("rgb16.png")]
    public void DecodeRgb_SixteenBitPng_PillowModesIAndRgb16(string file) =>
        Assert.Equal(Pil[file].Data, ImageDecoder.DecodeRgb(Fixtures.Bytes("pil", file)).Pixels);

    [Theory]
    [InlineData("palette_trns.png")]
    [InlineData("palette_alpha_bytes.png")]
    [InlineData("trns.gif")]
    public void DecodeRgb_PaletteWithTransparency_PaletteColoursNoMatting(string file) =>
        Assert.Equal(Pil[file].Data, ImageDecoder.DecodeRgb(Fixtures.Bytes("pil", file)).Pixels);

    [Fact]
    public void DecodeRgb_RandomGarbageAfterValidHeaders_NeverCrashes()
    {
        var rng = new Random(7);
        var seeds = new[] { "07_photo_q90_320x240.jpg", "03_scene_rgb_500x333.png" }.Select(f => Fixtures.Bytes("images", f))
            .Concat(new[] { "lossy.webp", "animated.gif", "rgb.tiff" }.Select(f => Fixtures.Bytes("pil", f))).ToArray();
        int ok = 0, failed = 0;
        for (int i = 0; i < 150; i++)
        {
            var data = (byte[])seeds[i % seeds.Length].Clone();
            int flips = rng.Next(1, 20);
            for (int f = 0; f < flips; f++) data[rng.Next(Math.Min(data.Length, 40), data.Length)] = (byte)rng.Next(256);
            if (i % 3 == 0) data = data[..rng.Next(1, data.Length)];
            try { ImageDecoder.DecodeRgb(data); ok++; }
            catch (ImageDecodeException) { failed++; }
        }
        Assert.Equal(150, ok + failed);
    }

    private static byte[] PngHeader(int width, int height)
    {
        var ms = new MemoryStream();
        ms.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; ihdr[9] = 2;
        WriteChunk(ms, "IHDR", ihdr);
        WriteChunk(ms, "IDAT", new byte[1000]);
        WriteChunk(ms, "IEND", []);
        return ms.ToArray();
    }

    private static void WriteChunk(Stream s, string type, byte[] data)
    {
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        s.Write(len);
        var t = System.Text.Encoding.ASCII.GetBytes(type);
        s.Write(t);
        s.Write(data);
        var crc = Crc32([.. t, .. data]);
        BinaryPrimitives.WriteUInt32BigEndian(len, crc);
        s.Write(len);
    }

    private static uint Crc32(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (var b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }
}
