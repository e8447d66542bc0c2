// BLIP-2 parity against tests/fixtures/blip2-{opt,t5,itm}-tiny (HF transformers 4.46.1 outputs: every tensor, hidden
// states, per-step generation logits and generated ids) and the high-level API the worker tasks call.
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Models;
using BatchVlm.Engine.Parity;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Tests.Models;

public class Blip2Tests
{
    internal static long[,] To2D(long[] flat, int[] shape)
    {
        var r = new long[shape[0], shape[1]];
        Buffer.BlockCopy(flat, 0, r, 0, flat.Length * sizeof(long));
        return r;
    }

    [Fact]
    public void Parity_Blip2OptTiny_EveryTensorPasses()
    {
        var report = ParityRunner.Run(SiglipTests.FixtureDir("blip2-opt-tiny"));
        Assert.Equal("blip2", report.CaseName);
        SiglipTests.AssertAllPass(report, 17);
    }

    [Fact]
    public void Parity_Blip2T5Tiny_EveryTensorPasses()
    {
        var report = ParityRunner.Run(SiglipTests.FixtureDir("blip2-t5-tiny"));
        Assert.Equal("blip2", report.CaseName);
        SiglipTests.AssertAllPass(report, 14);
    }

    [Fact]
    public void Parity_Blip2ItmTiny_EveryTensorPasses()
    {
        var report = ParityRunner.Run(SiglipTests.FixtureDir("blip2-itm-tiny"));
        Assert.Equal("blip2-itm", report.CaseName);
        SiglipTests.AssertAllPass(report, 9);
    }

    private static Blip2ForConditionalGeneration LoadGen(string name) =>
        Blip2ForConditionalGeneration.Load(SiglipTests.FixtureDir(name), CpuBackend.Default);

    private static (float[] Pixels, long[,] Ids) FixtureInputs(string name)
    {
        using var inputs = ParityInputs.Open(Path.Combine(SiglipTests.FixtureDir(name), "inputs.safetensors"));
        return (inputs.Floats("pixel_values"), To2D(inputs.Int64("input_ids"), inputs.Shape("input_ids")));
    }

    /// <summary>The prompt of fixture row r without its image tokens.</summary>
    private static int[] PromptOf(long[,] ids, int r, int imageToken)
    {
        var l = new List<int>();
        for (int j = 0; j < ids.GetLength(1); j++) if (ids[r, j] != imageToken) l.Add((int)ids[r, j]);
        return l.ToArray();
    }

    [Theory]
    [InlineData("blip2-opt-tiny")]
    [InlineData("blip2-t5-tiny")]
    public void Caption_FixturePrompts_MatchHfGeneratedIds(string fixture)
    {
        using var model = LoadGen(fixture);
        var (px, ids) = FixtureInputs(fixture);
        using var expected = ParityInputs.Open(Path.Combine(SiglipTests.FixtureDir(fixture), "expected.safetensors"));
        var want = expected.Int64("generated_ids");
        var prompts = new[] { PromptOf(ids, 0, 500), PromptOf(ids, 1, 500) };
        var seqs = model.Caption(px, 2, prompts, model.DefaultOptions(8));
        for (int r = 0; r < 2; r++)
        {
            Assert.Equal(want[r * 9], model.StartTokenId);
            Assert.Equal(want.Skip(r * 9 + 1).Take(8).Select(x => (int)x), seqs[r].Tokens);
        }
    }

    [Theory]
    [InlineData("blip2-opt-tiny")]
    [InlineData("blip2-t5-tiny")]
    public void Caption_LeftPaddedBatchOfDifferentPrompts_EqualsOneAtATime(string fixture)
    {
        using var model = LoadGen(fixture);
        var (px, _) = FixtureInputs(fixture);
        int per = px.Length / 2;
        IReadOnlyList<int>[] prompts = model.IsEncoderDecoder ? [[37, 99, 1], [250, 1]] : [[2, 37, 99, 41, 7], [2, 250]];
        var opts = model.DefaultOptions(6) with { OutputLogits = true };
        var batched = model.Caption(px, 2, prompts, opts);
        for (int r = 0; r < 2; r++)
        {
            var single = model.Caption(px.AsSpan(r * per, per).ToArray(), 1, [prompts[r]], opts);
            Assert.Equal(single[0].Tokens, batched[r].Tokens);
            Assert.Equal(single[0].Score, batched[r].Score, 1e-4);
        }
    }

    [Fact]
    public void Caption_NoPrompt_UsesImageTokensThenBosForOpt_EosForT5()
    {
        using var opt = LoadGen("blip2-opt-tiny");
        using var t5 = LoadGen("blip2-t5-tiny");
        Assert.Equal(Enumerable.Repeat(500, 8).Append(2), opt.BuildInputIds(null));
        Assert.Equal(Enumerable.Repeat(500, 8).Append(1), t5.BuildInputIds([]));
        var (px, _) = FixtureInputs("blip2-opt-tiny");
        var seqs = opt.Caption(px, 2, null, opt.DefaultOptions(5));
        Assert.All(seqs, s => Assert.InRange(s.Tokens.Count, 1, 5));
    }

    /// <summary>Beam search reorders the KV cache (and T5's cross keys/values) between steps; the reported score of the
    /// best beam must equal the log-probability an uncached teacher-forced forward gives its tokens.</summary>
    [Theory]
    [InlineData("blip2-opt-tiny")]
    [InlineData("blip2-t5-tiny")]
    public void Generate_Beams_BestScoreEqualsUncachedLogProbability(string fixture)
    {
        using var model = LoadGen(fixture);
        var (px, ids) = FixtureInputs(fixture);
        var be = CpuBackend.Default;
        using var pixels = be.FromFloats(px, 2, 3, 32, 32);
        var opts = model.DefaultOptions(5) with { NumBeams = 3, EosTokenIds = [model.EosTokenId] };
        var r = model.Generate(pixels, ids, null, opts);
        for (int row = 0; row < 2; row++)
        {
            var toks = r.Sequences[row].Tokens;
            using var px1 = be.FromFloats(px.AsSpan(row * 3 * 32 * 32, 3 * 32 * 32), 1, 3, 32, 32);
            int t = ids.GetLength(1);
            double sum = 0;
            if (model.IsEncoderDecoder)
            {
                var enc = new long[1, t];
                for (int j = 0; j < t; j++) enc[0, j] = ids[row, j];
                var dec = new long[1, toks.Count];
                dec[0, 0] = model.StartTokenId;
                for (int j = 1; j < toks.Count; j++) dec[0, j] = toks[j - 1];
                using var f = model.Forward(px1, enc, null, dec);
                sum = LogProbs(f.Logits, 0, toks);
            }
            else
            {
                var full = new long[1, t + toks.Count - 1];
                for (int j = 0; j < t; j++) full[0, j] = ids[row, j];
                for (int j = 0; j + 1 < toks.Count; j++) full[0, t + j] = toks[j];
                using var f = model.Forward(px1, full);
                sum = LogProbs(f.Logits, t - 1, toks);
            }
            Assert.Equal(sum / toks.Count, r.Sequences[row].Score, 1e-3);
        }
    }

    private static double LogProbs(Tensor logits, int first, IReadOnlyList<int> toks)
    {
        int v = logits.Dim(2);
        var l = logits.ToFloatArray();
        double sum = 0;
        for (int s = 0; s < toks.Count; s++)
        {
            var row = l.AsSpan((first + s) * v, v);
            double max = double.NegativeInfinity;
            foreach (var x in row) max = Math.Max(max, x);
            double z = 0;
            foreach (var x in row) z += Math.Exp(x - max);
            sum += row[toks[s]] - max - Math.Log(z);
        }
        return sum;
    }

    [Fact]
    public void Forward_ConfigWithoutImageTokenIndex_ConcatenatesQueriesWithTheSameNumbers()
    {
        // 4.46.1: without image_token_index the projected queries are concatenated in front of the text; the fixture
        // README states the numbers are the same as replacing the 8 image tokens.
        var src = SiglipTests.FixtureDir("blip2-opt-tiny");
        var dir = Directory.CreateTempSubdirectory("blip2-noimg").FullName;
        try
        {
            foreach (var f in new[] { "model.safetensors", "generation_config.json" })
                File.Copy(Path.Combine(src, f), Path.Combine(dir, f));
            File.WriteAllText(Path.Combine(dir, "config.json"),
                File.ReadAllText(Path.Combine(src, "config.json")).Replace("\"image_token_index\": 500,", ""));
            using var model = Blip2ForConditionalGeneration.Load(dir, CpuBackend.Default);
            Assert.Null(model.Config.ImageTokenIndex);
            var (px, ids) = FixtureInputs("blip2-opt-tiny");
            var text = new long[2, 6];
            for (int r = 0; r < 2; r++)
                for (int j = 0; j < 6; j++) text[r, j] = ids[r, 8 + j];
            using var pixels = CpuBackend.Default.FromFloats(px, 2, 3, 32, 32);
            using var o = model.Forward(pixels, text);
            using var expected = ParityInputs.Open(Path.Combine(src, "expected.safetensors"));
            var want = expected.Floats("logits");
            var got = o.Logits.ToFloatArray();
            Assert.Equal(want.Length, got.Length);
            double maxRef = want.Max(Math.Abs), maxDiff = 0;
            for (int i = 0; i < want.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(want[i] - got[i]));
            Assert.True(maxDiff <= 2e-5 * Math.Max(1, maxRef), $"max|diff| {maxDiff}");
            var gen = model.Caption(px, 2, [PromptOf(ids, 0, 500), PromptOf(ids, 1, 500)], model.DefaultOptions(8));
            var wantIds = expected.Int64("generated_ids");
            for (int r = 0; r < 2; r++)
                Assert.Equal(wantIds.Skip(r * 9 + 1).Take(8).Select(x => (int)x), gen[r].Tokens);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Forward_WrongNumberOfImageTokens_ThrowsNamingCounts()
    {
        using var model = LoadGen("blip2-opt-tiny");
        var (px, ids) = FixtureInputs("blip2-opt-tiny");
        ids[1, 0] = 7;
        using var pixels = CpuBackend.Default.FromFloats(px, 2, 3, 32, 32);
        var e = Assert.Throws<ArgumentException>(() => model.Forward(pixels, ids));
        Assert.Contains("15 image tokens", e.Message);
    }

    [Fact]
    public void RetrievalApi_MatchScoresAndSimilarity_EqualFixture()
    {
        var dir = SiglipTests.FixtureDir("blip2-itm-tiny");
        using var model = Blip2ForImageTextRetrieval.Load(dir, CpuBackend.Default);
        using var inputs = ParityInputs.Open(Path.Combine(dir, "inputs.safetensors"));
        using var expected = ParityInputs.Open(Path.Combine(dir, "expected.safetensors"));
        var px = inputs.Floats("pixel_values");
        var ids = To2D(inputs.Int64("input_ids"), inputs.Shape("input_ids"));
        var mask = To2D(inputs.Int64("attention_mask"), inputs.Shape("attention_mask"));
        var ids2 = new long[2, ids.GetLength(1)];
        var mask2 = new long[2, ids.GetLength(1)];
        Array.Copy(ids, ids2, ids2.Length);
        Array.Copy(mask, mask2, mask2.Length);
        var m = model.MatchScores(px, 2, ids2, mask2);
        var probs = expected.Floats("itm.probs");
        for (int i = 0; i < 2; i++) Assert.Equal(probs[i * 2 + 1], m.MatchProbabilities[i], 1e-5);

        var img = model.EmbedImages(px, 2);
        Assert.Equal(new[] { 2, 8, 24 }, new[] { img.GetLength(0), img.GetLength(1), img.GetLength(2) });
        var txt = model.EmbedTexts(ids, mask);
        var sim = Blip2ForImageTextRetrieval.Similarity(img, txt);
        var want = expected.Floats("itc.logits_per_image");
        for (int i = 0; i < 2; i++)
            for (int t = 0; t < 3; t++) Assert.Equal(want[i * 3 + t], sim[i, t], 1e-5);
    }

    [Fact]
    public void MatchAllPairs_DiagonalEqualsFixtureItmProbabilities()
    {
        var dir = SiglipTests.FixtureDir("blip2-itm-tiny");
        using var model = Blip2ForImageTextRetrieval.Load(dir, CpuBackend.Default);
        using var inputs = ParityInputs.Open(Path.Combine(dir, "inputs.safetensors"));
        using var expected = ParityInputs.Open(Path.Combine(dir, "expected.safetensors"));
        var ids = To2D(inputs.Int64("input_ids"), inputs.Shape("input_ids"));
        var mask = To2D(inputs.Int64("attention_mask"), inputs.Shape("attention_mask"));
        var s = model.MatchAllPairs(inputs.Floats("pixel_values"), 2, ids, mask);
        Assert.Equal(2, s.Probabilities.GetLength(0));
        Assert.Equal(3, s.Probabilities.GetLength(1));
        var probs = expected.Floats("itm.probs");
        var logits = expected.Floats("itm.logits_per_image");
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(probs[i * 2 + 1], s.Probabilities[i, i], 1e-5);
            Assert.Equal(logits[i * 2 + 1] - logits[i * 2], s.Logits[i, i], 1e-4);
        }
        Assert.All(s.Probabilities.Cast<float>(), p => Assert.InRange(p, 0f, 1f));
    }

    [Theory]
    [InlineData(0, true, 0)]
    [InlineData(1, true, 17)]
    [InlineData(-1, true, 1)]
    [InlineData(-8, true, 8)]
    [InlineData(-20, true, 10)]
    [InlineData(-200, true, 15)]
    [InlineData(200, true, 31)]
    [InlineData(5, false, 0)]
    [InlineData(-15, false, 15)]
    [InlineData(-20, false, 17)]
    [InlineData(-1000, false, 31)]
    public void RelativePositionBucket_KnownValues(int relative, bool bidirectional, int bucket) =>
        Assert.Equal(bucket, T5Attention.RelativePositionBucket(relative, bidirectional, 32, 128));
}
