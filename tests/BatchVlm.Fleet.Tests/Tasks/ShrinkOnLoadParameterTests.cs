// The shrink_on_load job parameter of embed, score and caption: parsed and checked with the other parameters, and
// mapped onto the model's image processor (off: the same processor, the exact Hugging Face path; on: JPEG DCT scaling
// keeping ≥ 2× the input size; draft: Pillow's draft() rule).
using BatchVlm.Fleet.Tests.SystemTests;
using BatchVlm.Imaging.Processing;
using BatchVlm.Worker.Tasks;

namespace BatchVlm.Fleet.Tests.Tasks;

public sealed class ShrinkOnLoadParameterTests
{
    private const string SiglipJson = """
        {"image_processor_type": "SiglipImageProcessor", "do_resize": true, "size": {"height": 32, "width": 32}, "resample": 3,
         "do_rescale": true, "rescale_factor": 0.00392156862745098, "do_normalize": true, "image_mean": [0.5, 0.5, 0.5],
         "image_std": [0.5, 0.5, 0.5]}
        """;

    [Theory]
    [InlineData(null, "off")]
    [InlineData("off", "off")]
    [InlineData("on", "on")]
    [InlineData("draft", "draft")]
    public void Parse_ShrinkOnLoad_AcceptedByEmbedScoreAndCaption(string? value, string expected)
    {
        string extra = value is null ? "" : $", \"shrink_on_load\": \"{value}\"";
        Assert.Equal(expected, EmbedParameters.Parse($$"""{"output": "/tmp/out"{{extra}}}""").ShrinkOnLoad);
        Assert.Equal(expected, ScoreParameters.Parse($$"""{"texts": ["a cat"]{{extra}}}""").ShrinkOnLoad);
        Assert.Equal(expected, CaptionParameters.Parse($$"""{"max_new_tokens": 8{{extra}}}""").ShrinkOnLoad);
    }

    [Fact]
    public void Parse_ShrinkOnLoadUnknownValue_ErrorNamesParameterAndChoices()
    {
        var e = Assert.Throws<ArgumentException>(() => EmbedParameters.Parse("""{"output": "/tmp/out", "shrink_on_load": "fast"}"""));
        Assert.Contains("shrink_on_load", e.Message);
        Assert.Contains("off, on, draft", e.Message);
        Assert.Contains("'fast'", e.Message);
        Assert.Throws<ArgumentException>(() => ScoreParameters.Parse("""{"texts": ["a"], "shrink_on_load": "yes"}"""));
        Assert.Throws<ArgumentException>(() => CaptionParameters.Parse("""{"shrink_on_load": ""}"""));
    }

    [Theory]
    [InlineData("on", 2.0)]
    [InlineData("draft", 1.0)]
    public void WithShrinkOnLoad_OnOrDraft_ProcessorShrinksJpegsWithThatMargin(string value, double oversample)
    {
        var exact = ImageProcessor.FromConfig(SiglipJson);
        var shrinking = TaskParameters.WithShrinkOnLoad(exact, value);
        Assert.True(shrinking.Options.ShrinkOnLoad);
        Assert.Equal(oversample, shrinking.Options.ShrinkOversample);
        Assert.Equal(exact.Options.Decode, shrinking.Options.Decode);
        // 320x240 to 32x32: the draft rule decodes at 1/4 (1/8 would give 40x30, below 32 in height), a 2× margin
        // (≥ 64x64) at 1/2; either way the result is what an ImageProcessor with those options computes.
        var jpeg = TestImages.Jpeg(320, 240, seed: 5);
        var expected = new ImageProcessor(exact.Config, new ImageProcessorOptions { ShrinkOnLoad = true, ShrinkOversample = oversample });
        Assert.Equal(expected.Preprocess(jpeg), shrinking.Preprocess(jpeg));
    }

    [Fact]
    public void WithShrinkOnLoad_Off_SameProcessor()
    {
        var exact = ImageProcessor.FromConfig(SiglipJson);
        Assert.Same(exact, TaskParameters.WithShrinkOnLoad(exact, "off"));
    }
}
