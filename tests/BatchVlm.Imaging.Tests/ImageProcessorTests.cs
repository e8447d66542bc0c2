// Parity of the three Hugging Face processors with the reference fixtures (transformers 4.46.1 + Pillow 9.4.0):
// decoded RGB, the uint8 resize, the CLIP crop and the final pixel_values, for every fixture image. The goal is
// bit-identical; the bar would be at most one uint8 level — these tests hold us to bit-identical.
using BatchVlm.Imaging.Processing;

namespace BatchVlm.Imaging.Tests;

public sealed class ImageProcessorTests
{
    public static TheoryData<string> Images => new(Fixtures.ImageNames);

    private static Dictionary<string, Tensor> Expected => Fixtures.Safetensors("expected.safetensors.gz");
    private static string Stem(string file) => Path.GetFileNameWithoutExtension(file);

    [Theory]
    [MemberData(nameof(Images))]
    public void DecodeRgb_FixtureImage_MatchesPillowConvertRgb(string file)
    {
        var image = ImageDecoder.DecodeRgb(Fixtures.Bytes("images", file));
        var expected = Expected[$"{Stem(file)}.decoded_rgb"];
        Assert.Equal(expected.Shape[0], image.Height);
        Assert.Equal(expected.Shape[1], image.Width);
        Assert.Equal((0, 0), Fixtures.Diff(image.Pixels, expected.Data));
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void Preprocess_Siglip_BitIdenticalResizeAndPixelValues(string file) => CheckSquare("siglip", file);

    [Theory]
    [MemberData(nameof(Images))]
    public void Preprocess_Blip2_BitIdenticalResizeAndPixelValues(string file) => CheckSquare("blip2", file);

    private static void CheckSquare(string processor, string file)
    {
        var p = ImageProcessor.FromConfig(Fixtures.Path_($"{processor}_preprocessor_config.json"));
        var capture = new ImageProcessor.Intermediates();
        var output = new float[3 * 224 * 224];
        var size = p.Run(Fixtures.Bytes("images", file), output, capture);
        Assert.Equal((224, 224), size);
        Assert.Equal((0, 0), Fixtures.Diff(capture.Resized!.Pixels, Expected[$"{Stem(file)}.square_resized_uint8"].Data));
        AssertPixelValues(processor, file, capture.Resized!, output);
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void Preprocess_Clip_BitIdenticalResizeCropAndPixelValues(string file)
    {
        var p = ImageProcessor.FromConfig(Fixtures.Path_("clip_preprocessor_config.json"));
        var capture = new ImageProcessor.Intermediates();
        var output = new float[3 * 224 * 224];
        p.Run(Fixtures.Bytes("images", file), output, capture);
        var resized = Expected[$"{Stem(file)}.clip_resized_uint8"];
        Assert.Equal((resized.Shape[0], resized.Shape[1]), (capture.Resized!.Height, capture.Resized.Width));
        Assert.Equal((0, 0), Fixtures.Diff(capture.Resized.Pixels, resized.Data));
        Assert.Equal((0, 0), Fixtures.Diff(capture.Cropped!.Pixels, Expected[$"{Stem(file)}.clip_cropped_uint8"].Data));
        AssertPixelValues("clip", file, capture.Cropped!, output);
    }

    /// <summary>The reference pixel_values are stored as (uint8 image, per-channel value table); see the fixture README.</summary>
    private static void AssertPixelValues(string processor, string file, RgbImage referenceU8Layout, float[] actual)
    {
        var table = Expected[$"{processor}.{Stem(file)}.pixel_values_table"].AsFloats();
        // Rebuild the reference from the *reference* uint8 image (identical to ours, asserted above).
        var u8 = processor == "clip" ? Expected[$"{Stem(file)}.clip_cropped_uint8"].Data : Expected[$"{Stem(file)}.square_resized_uint8"].Data;
        int hw = 224 * 224;
        double maxDiff = 0;
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < hw; i++)
            {
                float expected = table[c * 256 + u8[i * 3 + c]];
                maxDiff = Math.Max(maxDiff, Math.Abs(expected - actual[c * hw + i]));
                if (BitConverter.SingleToInt32Bits(expected) != BitConverter.SingleToInt32Bits(actual[c * hw + i]))
                    Assert.Fail($"{processor} {file}: pixel_values[{c},{i / 224},{i % 224}] = {actual[c * hw + i]:R}, expected {expected:R}");
            }
        Assert.Equal(0, maxDiff);
        _ = referenceU8Layout;
    }

    [Fact]
    public void Preprocess_Siglip_PhotoMatchesVerbatimPixelValues()
    {
        var p = ImageProcessor.FromConfig(Fixtures.Path_("siglip_preprocessor_config.json"));
        var actual = p.Preprocess(Fixtures.Bytes("images", "07_photo_q90_320x240.jpg"));
        var expected = Expected["siglip.07_photo_q90_320x240.pixel_values"].AsFloats();
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(actual[i]));
    }

    [Fact]
    public void PreprocessBatch_MixedGoodAndBadItems_FillsGoodSlotsAndReportsBadOnes()
    {
        var p = ImageProcessor.FromConfig(Fixtures.Path_("siglip_preprocessor_config.json"));
        var good = Fixtures.Bytes("images", "07_photo_q90_320x240.jpg");
        var items = new ReadOnlyMemory<byte>[] { good, Array.Empty<byte>(), good.AsMemory(0, 5000), Fixtures.Bytes("images", "05_gray_45x130.png") };
        var dst = new float[items.Length * 3 * 224 * 224];
        Array.Fill(dst, 42f);
        var errors = p.PreprocessBatch(items, dst, maxDegreeOfParallelism: 2);
        Assert.Null(errors[0]);
        Assert.Equal(ImageDecodeErrorKind.Empty, errors[1]!.Kind);
        Assert.Equal(ImageDecodeErrorKind.Truncated, errors[2]!.Kind);
        Assert.Null(errors[3]);
        int per = 3 * 224 * 224;
        Assert.Equal(p.Preprocess(good), dst[..per]);
        Assert.All(dst[per..(3 * per)], v => Assert.Equal(0f, v));
    }

    [Theory]
    [InlineData(640, 480, 224, 298)]   // landscape: (h, w) = (224, int(224 * 640 / 480))
    [InlineData(37, 91, 550, 224)]     // portrait
    [InlineData(225, 223, 224, 226)]
    [InlineData(300, 300, 224, 224)]
    public void ResizeOutputSize_ShortestEdge_MatchesHfRounding(int w, int h, int eh, int ew)
    {
        var p = ImageProcessor.FromConfig(Fixtures.Path_("clip_preprocessor_config.json"));
        Assert.Equal((eh, ew), p.ResizeOutputSize(w, h));
    }

    [Fact]
    public void CenterCrop_CropLargerThanImage_ZeroPadsLikeHf()
    {
        // 3x2 image, crop 5x4: new = (4, 5); top_pad = ceil(2/2) = 1, left_pad = ceil(2/2) = 1.
        var src = Enumerable.Range(1, 3 * 2 * 3).Select(i => (byte)i).ToArray();
        var dst = new byte[5 * 4 * 3];
        ImageProcessor.CenterCrop(src, 3, 2, dst, 5, 4);
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 5; x++)
            {
                bool inside = y is >= 1 and <= 2 && x is >= 1 and <= 3;
                byte expected = inside ? src[((y - 1) * 3 + (x - 1)) * 3] : (byte)0;
                Assert.Equal(expected, dst[(y * 5 + x) * 3]);
            }
    }

    [Fact]
    public void Normalize_Table_EqualsScalarRescaleThenNormalize()
    {
        var p = ImageProcessor.FromConfig(Fixtures.Path_("clip_preprocessor_config.json"));
        var hwc = Enumerable.Range(0, 256 * 3).Select(i => (byte)(i / 3)).ToArray();
        var chw = new float[256 * 3];
        p.Normalize(hwc, 256, chw);
        for (int c = 0; c < 3; c++)
            for (int v = 0; v < 256; v++)
                Assert.Equal(ImageProcessor.RescaleNormalize(p.Config, c, (byte)v), chw[c * 256 + v]);
    }
}
