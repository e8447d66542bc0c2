// OPT and T5 loaded on their own (OPTForCausalLM.Load / T5ForConditionalGeneration.Load, plain facebook/opt-* and
// t5 / flan-t5 layouts): the language_model.* weights of the BLIP-2 fixtures are re-saved without the prefix, with
// their text_config as config.json; the standalone model must load every key and compute exactly what the BLIP-2
// composition computes (whose numbers the parity tests check against HF). Also the BF16 path: bf16 weights load
// and stay within bf16 rounding of the f32 logits.
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Models;
using System.Text.Json.Nodes;

namespace BatchVlm.Engine.Tests.Models;

public class OptT5StandaloneTests
{
    private static string Extract(string fixture, bool bf16 = false)
    {
        var src = SiglipTests.FixtureDir(fixture);
        var dir = Directory.CreateTempSubdirectory(fixture + "-lm").FullName;
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(src, "config.json")))!["text_config"]!.DeepClone();
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        using var f = SafetensorsFile.Open(Path.Combine(src, "model.safetensors"));
        var w = new SafetensorsWriter();
        const string p = "language_model.";
        foreach (var t in f.Tensors.Where(t => t.Name.StartsWith(p, StringComparison.Ordinal)))
        {
            var data = f.ReadFloat32(t.Name);
            if (bf16 && t.Shape.Length == 2) w.AddBFloat16(t.Name[p.Length..], data, t.Shape);
            else w.Add(t.Name[p.Length..], data, t.Shape);
        }
        w.Save(Path.Combine(dir, "model.safetensors"));
        return dir;
    }

    private static long[,] Ids(int b, int t, int vocab)
    {
        var r = new Random(5);
        var ids = new long[b, t];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++) ids[i, j] = r.Next(3, vocab);
        return ids;
    }

    [Fact]
    public void OptLoad_StandaloneCheckpoint_EqualsTheBlip2LanguageModel()
    {
        var dir = Extract("blip2-opt-tiny");
        try
        {
            var opt = OPTForCausalLM.Load(dir, CpuBackend.Default);
            using var blip2 = Blip2ForConditionalGeneration.Load(SiglipTests.FixtureDir("blip2-opt-tiny"), CpuBackend.Default);
            var ids = Ids(2, 7, 500);
            using var a = opt.Forward(ids);
            using var b = blip2.Opt!.Forward(ids);
            Assert.Equal(b.ToFloatArray(), a.ToFloatArray());
            var g = opt.Generate(ids, null, new() { MaxNewTokens = 4 });
            Assert.All(g.Sequences, s => Assert.Equal(4, s.Tokens.Count));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void StandaloneLoad_Dispose_ReleasesTheMemoryMappedWeights()
    {
        if (!File.Exists("/proc/self/maps")) Assert.Skip("needs /proc/self/maps (Linux) to see the mappings");
        foreach (var fixture in new[] { "blip2-opt-tiny", "blip2-t5-tiny" })
        {
            var dir = Extract(fixture);
            try
            {
                var weights = Path.Combine(dir, "model.safetensors");
                IDisposable model = fixture.Contains("opt", StringComparison.Ordinal)
                    ? OPTForCausalLM.Load(dir, CpuBackend.Default)
                    : T5ForConditionalGeneration.Load(dir, CpuBackend.Default);
                Assert.Contains(weights, File.ReadAllText("/proc/self/maps"));
                model.Dispose();
                Assert.DoesNotContain(weights, File.ReadAllText("/proc/self/maps"));
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }
    }

    [Fact]
    public void T5Load_StandaloneCheckpoint_EqualsTheBlip2LanguageModel()
    {
        var dir = Extract("blip2-t5-tiny");
        try
        {
            var t5 = T5ForConditionalGeneration.Load(dir, CpuBackend.Default);
            using var blip2 = Blip2ForConditionalGeneration.Load(SiglipTests.FixtureDir("blip2-t5-tiny"), CpuBackend.Default);
            var enc = Ids(2, 9, 500);
            var dec = Ids(2, 5, 500);
            using var e1 = t5.Embed(enc);
            using var e2 = blip2.T5!.Embed(enc);
            using var a = t5.ForwardEmbeds(e1, null, dec, null);
            using var b = blip2.T5.ForwardEmbeds(e2, null, dec, null);
            Assert.Equal(b.Logits.ToFloatArray(), a.Logits.ToFloatArray());
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void OptLoad_Bf16Weights_LogitsWithinBf16RoundingOfF32()
    {
        var dir32 = Extract("blip2-opt-tiny");
        var dir16 = Extract("blip2-opt-tiny", bf16: true);
        try
        {
            var ids = Ids(1, 6, 500);
            using var a = OPTForCausalLM.Load(dir32, CpuBackend.Default).Forward(ids);
            using var b = OPTForCausalLM.Load(dir16, CpuBackend.Default).Forward(ids);
            var x = a.ToFloatArray();
            var y = b.ToFloatArray();
            double maxRef = x.Max(Math.Abs), maxDiff = 0;
            for (int i = 0; i < x.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(x[i] - y[i]));
            Assert.InRange(maxDiff, 1e-7, 0.05 * maxRef);   // differs (bf16 was used), but only by rounding
        }
        finally
        {
            Directory.Delete(dir32, true);
            Directory.Delete(dir16, true);
        }
    }
}
