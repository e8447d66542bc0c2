// PaliGemma against tests/fixtures/paligemma-tiny (transformers 4.46.1) beyond the parity harness: the inference
// (bidirectional prefix) and training (prefix-LM + loss) masks on the scalar backend, and batched generation with
// left padding and images giving the same ids as one prompt at a time.
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Models;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Tests.Models;

public sealed class PaliGemmaTests
{
    private static readonly Lazy<PaliGemmaForConditionalGeneration> Model =
        new(() => PaliGemmaForConditionalGeneration.Load(GemmaFixture.Dir("paligemma-tiny"), CpuBackend.Default));

    [Fact]
    public void Forward_ScalarBackend_MatchesPrefixAndTrainingLogitsAndLoss()
    {
        var model = PaliGemmaForConditionalGeneration.Load(GemmaFixture.Dir("paligemma-tiny"), ReferenceBackend.Instance);
        var f = GemmaFixture.Open("paligemma-tiny");
        using var pixels = ReferenceBackend.Instance.FromFloats(f.InputFloats("pixel_values"), f.InputShape("pixel_values"));
        using (var o = model.Forward(f.InputIds2D("prefix.input_ids"), pixels, f.InputIds2D("prefix.attention_mask")))
            f.AssertClose("prefix.logits", o.Logits.ToFloatArray());
        using (var o = model.Forward(f.InputIds2D("suffix.input_ids"), pixels, f.InputIds2D("suffix.attention_mask"),
                   f.InputIds2D("suffix.token_type_ids"), f.InputIds2D("suffix.labels")))
        {
            f.AssertClose("suffix.logits", o.Logits.ToFloatArray());
            f.AssertClose("suffix.loss", [o.Loss!.Value]);
        }
    }

    [Fact]
    public void Generate_LeftPaddedPromptsWithImages_SameIdsAsOneAtATime()
    {
        var model = Model.Value;
        var f = GemmaFixture.Open("paligemma-tiny");
        var pixelsAll = f.InputFloats("pixel_values");
        var shape = f.InputShape("pixel_values");
        int perImage = pixelsAll.Length / shape[0];
        var rng = new Random(3);
        var prompts = new[] { 3, 9 }
            .Select(n => PaliGemmaProcessor.BuildInputIds(Enumerable.Range(0, n).Select(_ => rng.Next(3, 500)).Append(108).ToArray(),
                model.NumImageTokens, model.Config.ImageTokenIndex, model.Config.BosTokenId))
            .ToArray();
        var options = model.DefaultOptions(8) with { OutputLogits = true };
        using var pixels = CpuBackend.Default.FromFloats(pixelsAll, shape);
        var batch = model.Generate(prompts, pixels, options);
        for (int r = 0; r < 2; r++)
        {
            using var one = CpuBackend.Default.FromFloats(pixelsAll.AsSpan(r * perImage, perImage), 1, shape[1], shape[2], shape[3]);
            var single = model.Generate([prompts[r]], one, options);
            Assert.Equal(single.Sequences[0].Tokens, batch.Sequences[r].Tokens);
            for (int s = 0; s < single.StepLogits!.Count; s++)
            {
                var a = batch.StepLogits![s].AsSpan(r * model.VocabSize, model.VocabSize).ToArray();
                var b = single.StepLogits[s];
                double maxDiff = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
                Assert.True(maxDiff <= 2e-5 * Math.Max(1, b.Max(Math.Abs)), $"row {r} step {s}: max|diff| {maxDiff}");
            }
        }
    }

    [Fact]
    public void MergeImageFeatures_CountMismatch_ThrowsNamingBoth()
    {
        var model = Model.Value;
        using var feats = CpuBackend.Default.Zeros([1, 16, 64]);
        var ids = new long[1, 5];
        ids[0, 0] = model.Config.ImageTokenIndex;
        var e = Assert.Throws<ArgumentException>(() => model.MergeImageFeatures(ids, feats));
        Assert.Contains("tokens: 1", e.Message);
        Assert.Contains("features 16", e.Message);
    }

    [Fact]
    public void MergeImageFeatures_WidthNotTextHidden_ThrowsNamingShape()
    {
        var model = Model.Value;
        int c = model.TextConfig.HiddenSize;
        using var feats = CpuBackend.Default.Zeros([1, 16, c + 1]);
        var ids = new long[1, 5];
        var e = Assert.Throws<ArgumentException>(() => model.MergeImageFeatures(ids, feats));
        Assert.Contains($"(1, 16, {c + 1})", e.Message);
    }

    [Fact]
    public void Load_WrongModelType_Throws()
    {
        var e = Assert.Throws<BatchVlm.Engine.Loading.ModelLoadException>(() =>
            PaliGemmaForConditionalGeneration.Load(GemmaFixture.Dir("gemma-tiny"), CpuBackend.Default));
        Assert.Contains("not a PaliGemma model", e.Message);
    }
}
