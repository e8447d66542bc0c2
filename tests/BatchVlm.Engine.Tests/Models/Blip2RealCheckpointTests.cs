// Opt-in tests on real checkpoints (skipped unless an environment variable names a local model folder):
// BATCHVLM_BLIP2_DIR (Salesforce/blip2-opt-2.7b or blip2-flan-t5-*), BATCHVLM_BLIP2_ITM_DIR (Salesforce/blip2-itm-vit-g),
// BATCHVLM_ALTCLIP_DIR (BAAI/AltCLIP). They check what the tiny fixtures cannot: the real configs bind, every stored
// weight is used with the expected shape, and the full-size models produce finite, well-formed outputs.
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Models;

namespace BatchVlm.Engine.Tests.Models;

public class Blip2RealCheckpointTests
{
    private static string Dir(string variable)
    {
        var dir = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrEmpty(dir)) Assert.Skip($"{variable} is not set (opt-in: a local folder with a real checkpoint)");
        if (!Directory.Exists(dir)) Assert.Fail($"{variable}={dir} is not a folder");
        return dir;
    }

    /// <summary>A mid-grey image, normalised the way BlipImageProcessor/CLIPImageProcessor would (≈ 0 after the OpenAI mean/std).</summary>
    private static float[] Grey(int batch, int size) => new float[batch * 3 * size * size];

    [Fact]
    public void Caption_RealBlip2_GivesTokensInsideTheVocabulary()
    {
        using var model = Blip2ForConditionalGeneration.Load(Dir("BATCHVLM_BLIP2_DIR"), CpuBackend.Default);
        var seqs = model.Caption(Grey(1, model.ImageSize), 1, null, model.DefaultOptions(5));
        Assert.Single(seqs);
        Assert.NotEmpty(seqs[0].Tokens);
        Assert.All(seqs[0].Tokens, t => Assert.InRange(t, 0, model.VocabSize - 1));
        Assert.True(double.IsFinite(seqs[0].Score));
    }

    [Fact]
    public void Retrieval_RealBlip2Itm_ScoresAreProbabilitiesAndEmbeddingsUnitLength()
    {
        using var model = Blip2ForImageTextRetrieval.Load(Dir("BATCHVLM_BLIP2_ITM_DIR"), CpuBackend.Default);
        long[,] ids = { { 101, 1037, 4937, 102 } };   // [CLS] a cat [SEP] (bert-base-uncased)
        var px = Grey(1, model.ImageSize);
        var s = model.MatchAllPairs(px, 1, ids);
        Assert.InRange(s.Probabilities[0, 0], 0f, 1f);
        var img = model.EmbedImages(px, 1);
        double norm = 0;
        for (int e = 0; e < img.GetLength(2); e++) norm += img[0, 0, e] * img[0, 0, e];
        Assert.Equal(1.0, norm, 1e-4);
        var sim = Blip2ForImageTextRetrieval.Similarity(img, model.EmbedTexts(ids));
        Assert.InRange(sim[0, 0], -1.0001f, 1.0001f);
    }

    [Fact]
    public void EmbedAndScore_RealAltClip_ProbabilitiesSumToOne()
    {
        using IImageTextModel model = AltCLIPModel.Load(Dir("BATCHVLM_ALTCLIP_DIR"), CpuBackend.Default);
        long[,] ids = { { 0, 6, 2, 1 }, { 0, 6, 7, 2 } };
        long[,] mask = { { 1, 1, 1, 0 }, { 1, 1, 1, 1 } };
        var img = model.EmbedImages(Grey(1, model.ImageSize), 1);
        var txt = model.EmbedTexts(ids, mask);
        var s = model.Score(img, txt);
        Assert.Equal(1.0, s.Probabilities[0, 0] + s.Probabilities[0, 1], 1e-5);
        Assert.All(s.Logits.Cast<float>(), l => Assert.True(float.IsFinite(l)));
    }
}
