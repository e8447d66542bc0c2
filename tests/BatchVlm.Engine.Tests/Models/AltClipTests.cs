// AltCLIP parity against tests/fixtures/altclip-tiny (HF transformers 4.46.1 outputs): every expected tensor, hidden
// states of both towers included; RoBERTa's padding_idx position ids; the IImageTextModel API (embed + score).
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Models;
using BatchVlm.Engine.Parity;

namespace BatchVlm.Engine.Tests.Models;

public class AltClipTests
{
    [Fact]
    public void Parity_AltClipTiny_EveryTensorPasses()
    {
        var report = ParityRunner.Run(SiglipTests.FixtureDir("altclip-tiny"));
        Assert.Equal("altclip", report.CaseName);
        SiglipTests.AssertAllPass(report, 16);
    }

    [Fact]
    public void PositionIds_RightPaddedRow_StartAfterPaddingIdxAndPadsStayAtPaddingIdx()
    {
        using var model = AltCLIPModel.Load(SiglipTests.FixtureDir("altclip-tiny"), CpuBackend.Default);
        // pad = 1: real tokens get 2, 3, 4, ...; pads keep 1 (create_position_ids_from_input_ids)
        long[] ids = [0, 57, 300, 2, 1, 1, /* row 2 */ 0, 9, 2, 1, 1, 1];
        Assert.Equal([2L, 3, 4, 5, 1, 1, 2, 3, 4, 1, 1, 1], model.TextModel.Roberta.Embeddings.PositionIds(ids, 2, 6));
    }

    [Fact]
    public void EmbedAndScore_MatchFixtureLogits_ProbabilitiesSumToOnePerImage()
    {
        var dir = SiglipTests.FixtureDir("altclip-tiny");
        using IImageTextModel model = AltCLIPModel.Load(dir, CpuBackend.Default);
        using var inputs = ParityInputs.Open(Path.Combine(dir, "inputs.safetensors"));
        using var expected = ParityInputs.Open(Path.Combine(dir, "expected.safetensors"));
        var ids = Blip2Tests.To2D(inputs.Int64("input_ids"), inputs.Shape("input_ids"));
        var mask = Blip2Tests.To2D(inputs.Int64("attention_mask"), inputs.Shape("attention_mask"));
        var img = model.EmbedImages(inputs.Floats("pixel_values"), 2);
        var txt = model.EmbedTexts(ids, mask);
        var s = model.Score(img, txt);
        var want = expected.Floats("logits_per_image");
        for (int i = 0; i < 2; i++)
        {
            double sum = 0;
            for (int t = 0; t < 3; t++)
            {
                Assert.InRange(s.Logits[i, t], want[i * 3 + t] - 5e-4f, want[i * 3 + t] + 5e-4f);
                sum += s.Probabilities[i, t];
            }
            Assert.Equal(1.0, sum, 1e-5);
        }
        Assert.Equal(40, model.EmbeddingDim);
        Assert.Equal("altclip", model.Family);
    }

    [Fact]
    public void EmbedImages_WrongPixelCount_ThrowsNamingTheSizes()
    {
        using var model = AltCLIPModel.Load(SiglipTests.FixtureDir("altclip-tiny"), CpuBackend.Default);
        var e = Assert.Throws<ArgumentException>(() => model.EmbedImages(new float[3 * 16 * 16], 1));
        Assert.Contains("3x32x32", e.Message);
    }
}
