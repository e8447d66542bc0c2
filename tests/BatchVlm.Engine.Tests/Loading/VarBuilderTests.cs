// Tests of the VarBuilder: prefixes, shape checks with the style guide's error text, missing keys, tied weights,
// and the unused-key report.
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Nn;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Tests.Loading;

public sealed class VarBuilderTests
{
    [Fact]
    public void GetView_NestedSubs_BuildsDottedKeyAndChecksShape()
    {
        using var ckpt = SafetensorsCheckpoint.Open(LoadingTestData.SiglipTinyDir);
        var w = new VarBuilder(ckpt);
        var layer = w.Sub("vision_model").Sub("encoder").Sub("layers").Sub(1);
        Assert.Equal("vision_model.encoder.layers.1.", layer.Prefix);
        var fc1 = layer.Sub("mlp").Sub("fc1").GetView("weight", 160, 48);
        Assert.Equal("vision_model.encoder.layers.1.mlp.fc1.weight", fc1.Key);
        Assert.Equal([160, 48], fc1.Shape);
        Assert.Equal(160 * 48, fc1.ToFloat32().Length);
        Assert.Equal(160, layer.GetView("mlp.fc1.bias", -1).ElementCount);
    }

    [Fact]
    public void GetView_TransposedShape_ThrowsExpectedAndGotWithShardName()
    {
        using var tmp = new TempDir();
        SafetensorsCheckpointTests.ShardFixture(tmp.Path, 200_000);
        using var ckpt = SafetensorsCheckpoint.Open(tmp.Path);
        var w = new VarBuilder(ckpt).Sub("vision_model.encoder.layers.1");
        ckpt.TryGet("vision_model.encoder.layers.1.mlp.fc1.weight", out var file, out _);
        var e = Assert.Throws<ModelLoadException>(() => w.Sub("mlp").Sub("fc1").GetView("weight", 48, 160));
        Assert.Equal($"Shape mismatch loading 'vision_model.encoder.layers.1.mlp.fc1.weight' from {file.FileName}: expected (48, 160), got (160, 48)", e.Message);
    }

    [Fact]
    public void GetView_MissingKey_NamesKeyFilesAndNearestKeys()
    {
        using var ckpt = SafetensorsCheckpoint.Open(LoadingTestData.SiglipTinyDir);
        var w = new VarBuilder(ckpt).Sub("vision_model").Sub("encoder").Sub("layers").Sub(1);
        var e = Assert.Throws<ModelLoadException>(() => w.GetView("mlp.fc3.weight", 160, 48));
        Assert.Contains("Missing weight 'vision_model.encoder.layers.1.mlp.fc3.weight' (expected shape (160, 48))", e.Message);
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("'vision_model.encoder.layers.1.mlp.fc1.bias'", e.Message);
        Assert.False(w.Contains("mlp.fc3.weight"));
    }

    [Fact]
    public void Alias_TiedKeyAbsent_ReadsTargetAndMarksItUsed()
    {
        using var tmp = new TempDir();
        new SafetensorsWriter()
            .Add("model.embed_tokens.weight", new float[12], [4, 3])
            .Add("model.norm.weight", new float[3], [3])
            .Save(tmp["model.safetensors"]);
        using var ckpt = SafetensorsCheckpoint.Open(tmp.Path);
        var w = new VarBuilder(ckpt).Alias("lm_head.weight", "model.embed_tokens.weight");
        Assert.True(w.Contains("lm_head.weight"));
        var head = w.GetView("lm_head.weight", 4, 3);
        Assert.Equal("model.embed_tokens.weight", head.Info.Name);
        Assert.Equal(["model.norm.weight"], w.UnusedKeys());
        var shapeError = Assert.Throws<ModelLoadException>(() => w.GetView("lm_head.weight", 3, 4));
        Assert.Contains("(tied to 'model.embed_tokens.weight')", shapeError.Message);
    }

    [Fact]
    public void Alias_TiedKeyStored_PrefersStoredKey()
    {
        using var tmp = new TempDir();
        new SafetensorsWriter()
            .Add("embed.weight", new float[6], [2, 3])
            .Add("lm_head.weight", new float[6], [2, 3])
            .Save(tmp["model.safetensors"]);
        using var ckpt = SafetensorsCheckpoint.Open(tmp.Path);
        var w = new VarBuilder(ckpt).Alias("lm_head.weight", "embed.weight");
        Assert.Equal("lm_head.weight", w.GetView("lm_head.weight", 2, 3).Info.Name);
        Assert.Equal(["embed.weight"], w.UnusedKeys());
    }

    [Fact]
    public void ThrowIfUnused_AfterPartialLoad_ListsUnusedExceptIgnored()
    {
        using var ckpt = SafetensorsCheckpoint.Open(LoadingTestData.SiglipTinyDir);
        var w = new VarBuilder(ckpt);
        foreach (var key in ckpt.Keys.Where(k => !k.StartsWith("text_model.", StringComparison.Ordinal)))
            w.GetView(key);
        var unused = w.UnusedKeys();
        Assert.NotEmpty(unused);
        Assert.All(unused, k => Assert.StartsWith("text_model.", k));
        var e = Assert.Throws<ModelLoadException>(() => w.ThrowIfUnused());
        Assert.Contains($"{unused.Count} weight(s)", e.Message);
        Assert.Contains(unused[0], e.Message);
        w.ThrowIfUnused(k => k.StartsWith("text_model.", StringComparison.Ordinal));
    }

    [Fact]
    public unsafe void Tensor_Bf16Weight_WrapsTheMappingWithoutCopy()
    {
        using var tmp = new TempDir();
        var values = Enumerable.Range(0, 6).Select(i => i * 0.5f - 1f).ToArray();
        new SafetensorsWriter().AddBFloat16("proj.weight", values, [2, 3]).Save(tmp["model.safetensors"]);
        using var ckpt = SafetensorsCheckpoint.Open(tmp.Path);
        var vb = new VarBuilder(ckpt);
        using var t = vb.Tensor(CpuBackend.Default, "proj.weight", 2, 3);
        Assert.Equal(DType.BF16, t.DType);
        var storage = Assert.IsType<CpuStorage>(t.Storage);
        Assert.True(storage.Pointer == vb.GetView("proj.weight").Pointer, "the tensor must point into the memory map");
        Assert.Equal(values, t.ToFloatArray());
    }

    [Fact]
    public void Sub_InvalidPrefix_Throws()
    {
        using var ckpt = SafetensorsCheckpoint.Open(LoadingTestData.SiglipTinyDir);
        var w = new VarBuilder(ckpt);
        Assert.Throws<ArgumentException>(() => w.Sub(""));
        Assert.Throws<ArgumentException>(() => w.Sub("layers."));
    }
}
