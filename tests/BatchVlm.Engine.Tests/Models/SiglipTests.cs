// SigLIP parity against tests/fixtures/siglip-tiny (HF transformers 4.46.1 outputs): every expected tensor,
// hidden states included, within max|ours − ref| ≤ 2e-5 · max(1, max|ref|); plus the IImageTextModel API.
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Models;
using BatchVlm.Engine.Parity;

namespace BatchVlm.Engine.Tests.Models;

public class SiglipTests
{
    internal static string FixtureDir(string name)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "tests", "fixtures", name);
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException($"tests/fixtures/{name} not found above {AppContext.BaseDirectory}");
    }

    internal static void AssertAllPass(ParityReport report, int expectedTensors)
    {
        var text = string.Join("\n", report.Format());
        Assert.True(report.Failed == 0 && report.Skipped == 0, text);
        Assert.Equal(expectedTensors, report.Passed);
    }

    [Fact]
    public void Parity_SiglipTiny_EveryTensorPasses()
    {
        var report = ParityRunner.Run(FixtureDir("siglip-tiny"));
        Assert.Equal("siglip", report.CaseName);
        AssertAllPass(report, 14);
    }

    [Fact]
    public void EmbedAndScore_MatchFixtureLogits()
    {
        var dir = FixtureDir("siglip-tiny");
        using IImageTextModel model = SiglipModel.Load(dir, CpuBackend.Default);
        using var inputs = ParityInputs.Open(Path.Combine(dir, "inputs.safetensors"));
        using var expected = ParityInputs.Open(Path.Combine(dir, "expected.safetensors"));
        var px = inputs.Floats("pixel_values");
        var idsFlat = inputs.Int64("input_ids");
        var shape = inputs.Shape("input_ids");
        var ids = new long[shape[0], shape[1]];
        Buffer.BlockCopy(idsFlat, 0, ids, 0, idsFlat.Length * 8);

        var img = model.EmbedImages(px, 2);
        var txt = model.EmbedTexts(ids);
        Assert.Equal(48, model.EmbeddingDim);
        Assert.Equal(ScoreKind.Sigmoid, model.ScoreKind);
        var scores = model.Score(img, txt);
        var want = expected.Floats("logits_per_image");                      // (2 images, 3 texts)
        for (int i = 0; i < 2; i++)
            for (int t = 0; t < 3; t++)
            {
                Assert.InRange(scores.Logits[i, t], want[i * 3 + t] - 1e-3f, want[i * 3 + t] + 1e-3f);
                Assert.Equal(1 / (1 + Math.Exp(-want[i * 3 + t])), scores.Probabilities[i, t], 1e-6);
            }
    }

    [Fact]
    public void EmbedImages_WrongPixelCount_ThrowsNamingSizes()
    {
        using var model = SiglipModel.Load(FixtureDir("siglip-tiny"), CpuBackend.Default);
        var ex = Assert.Throws<ArgumentException>(() => model.EmbedImages(new float[100], 1));
        Assert.Contains("3x32x32", ex.Message);
    }

    [Fact]
    public void Load_ShapeMismatchInConfig_FailsAtLoadNamingTheKey()
    {
        var dir = Directory.CreateTempSubdirectory("siglip-bad").FullName;
        try
        {
            var src = FixtureDir("siglip-tiny");
            File.Copy(Path.Combine(src, "model.safetensors"), Path.Combine(dir, "model.safetensors"));
            File.WriteAllText(Path.Combine(dir, "config.json"),
                File.ReadAllText(Path.Combine(src, "config.json")).Replace("\"intermediate_size\": 160", "\"intermediate_size\": 150"));
            var ex = Assert.Throws<ModelLoadException>(() => SiglipModel.Load(dir, CpuBackend.Default));
            Assert.Contains("vision_model.encoder.layers.0.mlp.fc1.weight", ex.Message);
            Assert.Contains("(150, 48)", ex.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
