// AltCLIP (`AltCLIPModel`, model_type "altclip"): BAAI/AltCLIP, AltCLIP-m9 — multilingual CLIP. Composes CLIP's
// vision tower (Clip.cs `CLIPVisionTransformer`, keys `vision_model.*`, identical math) and an XLM-RoBERTa text
// tower (XlmRoberta.cs, keys `text_model.roberta.*`). Follows transformers 4.46.1
// src/transformers/models/altclip/modeling_altclip.py. AltCLIP's own pieces, each once below: the text tower's
// `pre_LN` (a LayerNorm on RoBERTa's last hidden state) and `transformation` (Linear hidden → project_dim) make
// `last_hidden_state`; text pooling takes position 0 (`<s>`) of those transformed states (no eos search);
// `text_projection` (no bias) maps project_dim → projection_dim; scores are softmax over texts of
// cos · exp(logit_scale), as CLIP.
//
// Dimension letters: B batch, T text tokens, C text hidden, P project_dim, E projection_dim.
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Nn;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Models;

/// <summary>text_config (AltCLIPTextConfig defaults, configuration_altclip.py 4.46.1).</summary>
public sealed record AltCLIPTextConfig
{
    public int VocabSize { get; init; } = 250002;
    public int HiddenSize { get; init; } = 1024;
    public int NumHiddenLayers { get; init; } = 24;
    public int NumAttentionHeads { get; init; } = 16;
    public int IntermediateSize { get; init; } = 4096;
    public string HiddenAct { get; init; } = "gelu";
    public int MaxPositionEmbeddings { get; init; } = 514;
    public int TypeVocabSize { get; init; } = 1;
    public float LayerNormEps { get; init; } = 1e-5f;
    public int PadTokenId { get; init; } = 1;
    public int BosTokenId { get; init; }
    public int EosTokenId { get; init; } = 2;
    public string PositionEmbeddingType { get; init; } = "absolute";
    public int ProjectDim { get; init; } = 768;

    public XLMRobertaConfig ToRoberta() => new()
    {
        VocabSize = VocabSize, HiddenSize = HiddenSize, NumHiddenLayers = NumHiddenLayers,
        NumAttentionHeads = NumAttentionHeads, IntermediateSize = IntermediateSize, HiddenAct = HiddenAct,
        MaxPositionEmbeddings = MaxPositionEmbeddings, TypeVocabSize = TypeVocabSize, LayerNormEps = LayerNormEps,
        PadTokenId = PadTokenId, PositionEmbeddingType = PositionEmbeddingType,
    };
}

/// <summary>config.json of an AltCLIPModel (AltCLIPConfig defaults, 4.46.1: projection_dim 768, not CLIP's 512).
/// vision_config binds to <see cref="CLIPVisionConfig"/>: AltCLIPVisionConfig has the same keys and defaults.</summary>
public sealed record AltCLIPConfig
{
    public AltCLIPTextConfig TextConfig { get; init; } = new();
    public CLIPVisionConfig VisionConfig { get; init; } = new();
    public int ProjectionDim { get; init; } = 768;
}

/// <summary>`text_model.*`: roberta → pre_LN → transformation; pooled = position 0 of the transformed states.</summary>
public sealed class AltCLIPTextModel
{
    private readonly LayerNorm _preLN;
    private readonly Linear _transformation;

    public AltCLIPTextModel(VarBuilder vb, IBackend backend, AltCLIPTextConfig c)
    {
        Config = c;
        Roberta = new XLMRobertaModel(vb.Sub("roberta"), backend, c.ToRoberta());
        _preLN = LayerNorm.Load(vb.Sub("pre_LN"), backend, c.HiddenSize, c.LayerNormEps);
        _transformation = Linear.Load(vb.Sub("transformation"), backend, c.HiddenSize, c.ProjectDim);
    }

    public AltCLIPTextConfig Config { get; }
    public XLMRobertaModel Roberta { get; }

    /// <summary>ids (B, T), mask (B, T) or null → last_hidden_state (B, T, P) = transformation(pre_LN(roberta)),
    /// pooled (B, P) = its position 0; hidden_states are RoBERTa's (C wide).</summary>
    public TowerOutput Forward(Tensor ids, Tensor? attentionMask = null, bool outputHiddenStates = false)
    {
        var hs = outputHiddenStates ? new List<Tensor>() : null;
        using var h = Roberta.Forward(ids, attentionMask, hs);              // (B, T, C)
        using var n = _preLN.Forward(h);
        var last = _transformation.Forward(n);                              // (B, T, P)
        using var first = last.Select(1, 0);                                // (B, P) view
        var pooled = first.Contiguous();
        return new TowerOutput(last, pooled, hs);
    }
}

/// <summary>`AltCLIPModel`: text_model, vision_model (CLIP's), visual_projection, text_projection, logit_scale — the
/// head is CLIP's (<see cref="ClipStyleDualEncoder"/>); the text tower is XLM-R with AltCLIP's pooling.</summary>
public sealed class AltCLIPModel : ClipStyleDualEncoder
{
    public AltCLIPModel(VarBuilder vb, IBackend backend, AltCLIPConfig c, SafetensorsCheckpoint? owned = null)
        : base(vb, backend, c.VisionConfig, c.TextConfig.ProjectDim, c.ProjectionDim, owned)
    {
        Config = c;
        TextModel = new AltCLIPTextModel(vb.Sub("text_model"), backend, c.TextConfig);
    }

    /// <summary>Loads config.json + weights from <paramref name="directory"/> (memory-mapped); every key must be used.</summary>
    public static AltCLIPModel Load(string directory, IBackend backend)
    {
        var config = HfConfig.Load(directory);
        config.ExpectModelType("altclip", "AltCLIP");
        var c = config.Bind<AltCLIPConfig>();
        return VarBuilder.Build(directory, (vb, ckpt) => new AltCLIPModel(vb, backend, c, ckpt),
            k => VarBuilder.IsPositionIdsBuffer(k) || k.EndsWith("token_type_ids", StringComparison.Ordinal));
    }

    public AltCLIPConfig Config { get; }
    public AltCLIPTextModel TextModel { get; }
    public override string Family => "altclip";

    public override TowerOutput ForwardText(Tensor ids, Tensor? attentionMask = null, bool outputHiddenStates = false) =>
        TextModel.Forward(ids, attentionMask, outputHiddenStates);
}
