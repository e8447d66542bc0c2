// Tests of config.json binding: config.json is a diff against class defaults, so binding it to records whose
// initializers are the HF defaults must give exactly what config.full.json spells out.
using System.Text.Json.Serialization;
using BatchVlm.Engine.Loading;

namespace BatchVlm.Engine.Tests.Loading;

public sealed class HfConfigTests
{
    // A model author's records: HF SiglipVisionConfig / SiglipTextConfig defaults (transformers 4.46.1).
    private sealed record VisionConfig
    {
        public int HiddenSize { get; init; } = 768;
        public int IntermediateSize { get; init; } = 3072;
        public int NumHiddenLayers { get; init; } = 12;
        public int NumAttentionHeads { get; init; } = 12;
        public int NumChannels { get; init; } = 3;
        public int ImageSize { get; init; } = 224;
        public int PatchSize { get; init; } = 16;
        public string HiddenAct { get; init; } = "gelu_pytorch_tanh";
        public double LayerNormEps { get; init; } = 1e-6;
    }

    private sealed record TextConfig
    {
        public int VocabSize { get; init; } = 32000;
        public int HiddenSize { get; init; } = 768;
        public int MaxPositionEmbeddings { get; init; } = 64;
        public int? EosTokenId { get; init; } = 2;
        [JsonPropertyName("pad_token_id")] public int PadId { get; init; } = 1;
    }

    private sealed record SiglipConfig
    {
        public VisionConfig VisionConfig { get; init; } = new();
        public TextConfig TextConfig { get; init; } = new();
        public double InitializerFactor { get; init; } = 1.0;
    }

    [Fact]
    public void Bind_DiffConfig_EqualsFullConfig()
    {
        var diff = HfConfig.Load(LoadingTestData.SiglipTinyDir);
        var full = HfConfig.Load(Path.Combine(LoadingTestData.SiglipTinyDir, "config.full.json"));
        Assert.Equal("siglip", diff.ModelType);
        Assert.Equal(["SiglipModel"], diff.Architectures);
        Assert.False(diff.Section("vision_config").Has("layer_norm_eps")); // absent: the default applies
        Assert.Equal(full.Bind<VisionConfig>("vision_config"), diff.Bind<VisionConfig>("vision_config"));
        Assert.Equal(full.Bind<TextConfig>("text_config"), diff.Bind<TextConfig>("text_config"));
        var whole = diff.Bind<SiglipConfig>();
        Assert.Equal(48, whole.VisionConfig.HiddenSize);
        Assert.Equal(32, whole.VisionConfig.ImageSize);
        Assert.Equal(1, whole.TextConfig.EosTokenId);
        Assert.Equal(1e-6, whole.VisionConfig.LayerNormEps);
    }

    [Fact]
    public void Bind_AbsentOrNullSection_GivesDefaults()
    {
        var c = HfConfig.Parse("""{"model_type":"siglip","text_config":null}""");
        Assert.Equal(new TextConfig(), c.Bind<TextConfig>("text_config"));
        Assert.Equal(new VisionConfig(), c.Bind<VisionConfig>("vision_config"));
        Assert.Equal(3072, c.Bind<SiglipConfig>().VisionConfig.IntermediateSize);
    }

    [Fact]
    public void Bind_WrongType_ThrowsNamingSectionAndKey()
    {
        var c = HfConfig.Parse("""{"vision_config":{"hidden_size":"big"}}""", "x/config.json");
        var e = Assert.Throws<ModelLoadException>(() => c.Bind<VisionConfig>("vision_config"));
        Assert.Contains("x/config.json", e.Message);
        Assert.Contains("'vision_config'", e.Message);
        Assert.Contains("hidden_size", e.Message);
    }

    [Fact]
    public void GetOrDefault_And_Get_ReadSingleValues()
    {
        var c = HfConfig.Parse("""{"a":{"b":3},"s":"x"}""", "cfg");
        Assert.Equal(3, c.Section("a").Get<int>("b"));
        Assert.Equal(7, c.Section("a").GetOrDefault("missing", 7));
        var e = Assert.Throws<ModelLoadException>(() => c.Section("a").Get<int>("c"));
        Assert.Contains("'a.c'", e.Message);
        Assert.Throws<ModelLoadException>(() => c.Section("s"));
    }

    [Fact]
    public void ExpectModelType_OtherType_ThrowsNamingFamilyAndExpected()
    {
        using var tmp = new TempDir();
        File.WriteAllText(System.IO.Path.Combine(tmp.Path, "config.json"), """{"model_type": "bert"}""");
        var hf = HfConfig.Load(tmp.Path);
        hf.ExpectModelType("bert", "BERT");
        var e = Assert.Throws<ModelLoadException>(() => hf.ExpectModelType("opt", "OPT"));
        Assert.Contains("model_type 'bert' is not an OPT model (expected 'opt')", e.Message);
        Assert.Contains("is not a Gemma model", Assert.Throws<ModelLoadException>(() => hf.ExpectModelType("gemma", "Gemma")).Message);
        File.WriteAllText(System.IO.Path.Combine(tmp.Path, "config.json"), "{}");
        HfConfig.Load(tmp.Path).ExpectModelType("gemma", "Gemma"); // no model_type: taken
    }

    [Fact]
    public void Load_MissingFile_Throws()
    {
        using var tmp = new TempDir();
        Assert.Contains("config.json", Assert.Throws<ModelLoadException>(() => HfConfig.Load(tmp.Path)).Message);
    }
}
