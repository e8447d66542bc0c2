// Tests of sharded checkpoints: save_pretrained-style sharding, index validation, duplicate keys.
using System.Text.Json.Nodes;
using BatchVlm.Engine.Loading;

namespace BatchVlm.Engine.Tests.Loading;

public sealed class SafetensorsCheckpointTests
{
    /// <summary>The siglip-tiny fixture weights re-saved in shards of at most <paramref name="maxShardBytes"/>.</summary>
    internal static IReadOnlyList<string> ShardFixture(string dir, long maxShardBytes)
    {
        var w = new SafetensorsWriter();
        using var f = SafetensorsFile.Open(Path.Combine(LoadingTestData.SiglipTinyDir, "model.safetensors"));
        foreach (var t in f.Tensors) w.Add(t.Name, t.Dtype, t.Shape, f.GetBytes(t).ToArray());
        File.Copy(Path.Combine(LoadingTestData.SiglipTinyDir, "config.json"), Path.Combine(dir, "config.json"), overwrite: true);
        return w.SaveSharded(dir, maxShardBytes);
    }

    [Fact]
    public void SaveSharded_ThenOpenDirectory_EveryKeyReadsTheSameBytes()
    {
        using var tmp = new TempDir();
        var files = ShardFixture(tmp.Path, 200_000);
        Assert.Equal("model-00001-of-00004.safetensors", Path.GetFileName(files[0]));
        Assert.EndsWith(SafetensorsCheckpoint.IndexFileName, files[^1]);
        var index = JsonNode.Parse(File.ReadAllText(files[^1]))!;
        Assert.Equal(630024L, index["metadata"]!["total_size"]!.GetValue<long>()); // data bytes of the fixture

        using var reference = SafetensorsFile.Open(Path.Combine(LoadingTestData.SiglipTinyDir, "model.safetensors"));
        using var ckpt = SafetensorsCheckpoint.Open(tmp.Path);
        Assert.Equal(4, ckpt.Files.Count);
        Assert.Equal(reference.Tensors.Count, ckpt.Keys.Count);
        foreach (var t in reference.Tensors)
        {
            Assert.True(ckpt.TryGet(t.Name, out var file, out var info));
            Assert.Equal(index["weight_map"]![t.Name]!.GetValue<string>(), file.FileName);
            Assert.True(reference.GetBytes(t).SequenceEqual(file.GetBytes(info)));
        }
    }

    [Fact]
    public void SaveSharded_OneShardWorth_WritesSingleModelFile()
    {
        using var tmp = new TempDir();
        var files = ShardFixture(tmp.Path, long.MaxValue);
        Assert.Equal(["model.safetensors"], files.Select(Path.GetFileName));
        Assert.Equal(File.ReadAllBytes(Path.Combine(LoadingTestData.SiglipTinyDir, "model.safetensors")), File.ReadAllBytes(files[0]));
    }

    [Fact]
    public void OpenIndex_MissingShard_ThrowsNamingShard()
    {
        using var tmp = new TempDir();
        var files = ShardFixture(tmp.Path, 200_000);
        File.Delete(files[1]);
        var e = Assert.Throws<ModelLoadException>(() => SafetensorsCheckpoint.Open(tmp.Path));
        Assert.Contains("model-00002-of-00004.safetensors", e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void OpenIndex_KeyMappedToWrongShard_Throws()
    {
        using var tmp = new TempDir();
        var files = ShardFixture(tmp.Path, 200_000);
        var index = JsonNode.Parse(File.ReadAllText(files[^1]))!;
        index["weight_map"]!["logit_scale"] = "model-00004-of-00004.safetensors";
        File.WriteAllText(files[^1], index.ToJsonString());
        var e = Assert.Throws<ModelLoadException>(() => SafetensorsCheckpoint.Open(tmp.Path));
        Assert.Contains("'logit_scale'", e.Message);
        Assert.Contains("is stored in model-00001-of-00004.safetensors", e.Message);
    }

    [Fact]
    public void OpenIndex_KeyListedButAbsent_Throws()
    {
        using var tmp = new TempDir();
        var files = ShardFixture(tmp.Path, 200_000);
        var index = JsonNode.Parse(File.ReadAllText(files[^1]))!;
        index["weight_map"]!["lm_head.weight"] = "model-00002-of-00004.safetensors";
        File.WriteAllText(files[^1], index.ToJsonString());
        var e = Assert.Throws<ModelLoadException>(() => SafetensorsCheckpoint.Open(tmp.Path));
        Assert.Contains("'lm_head.weight'", e.Message);
        Assert.Contains("no shard holds it", e.Message);
    }

    [Fact]
    public void OpenFiles_SameKeyInTwoFiles_Throws()
    {
        using var tmp = new TempDir();
        new SafetensorsWriter().Add("x", [1f], [1]).Save(tmp["a.safetensors"]);
        new SafetensorsWriter().Add("x", [2f], [1]).Save(tmp["b.safetensors"]);
        var e = Assert.Throws<ModelLoadException>(() => SafetensorsCheckpoint.OpenFiles("test", [tmp["a.safetensors"], tmp["b.safetensors"]]));
        Assert.Contains("'x' is stored twice: in a.safetensors and b.safetensors", e.Message);
    }

    [Fact]
    public void Open_FolderWithoutWeights_Throws()
    {
        using var tmp = new TempDir();
        var e = Assert.Throws<ModelLoadException>(() => SafetensorsCheckpoint.Open(tmp.Path));
        Assert.Contains("No weights in", e.Message);
    }
}
