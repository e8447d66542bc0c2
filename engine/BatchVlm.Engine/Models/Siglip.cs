// SigLIP (`SiglipModel`, model_type "siglip"): google/siglip-base-patch16-224, siglip-so400m-patch14-384, and the
// vision tower of PaliGemma (SiglipVisionTransformer without head, composed by PaliGemma's file).
// Follows transformers 4.46.1 src/transformers/models/siglip/modeling_siglip.py (eager attention) and
// candle-transformers/src/models/siglip.rs. Quirks, each once below: the text tower has NO causal mask and pools
// the LAST position (it assumes "sticky" eos padding), then a Linear head; the vision tower pools with a
// multi-head attention "MAP" head (a learned probe, torch.nn.MultiheadAttention with packed in_proj); scores are
// sigmoid(cos · exp(logit_scale) + logit_bias), pairwise, not a softmax. The encoder (self_attn q/k/v/out_proj,
// layer_norm1/2, mlp fc1/fc2, pre-LN) is modeling_siglip.py's "Copied from ...clip.modeling_clip.CLIPEncoder": it is
// Clip.cs's CLIPEncoder / CLIPMLP, not a second copy.
//
// Dimension letters: B batch, T text tokens, P patches, C hidden, H heads, D head dim, F MLP width, V vocabulary.
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Nn;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Models;

/// <summary>text_config of config.json; initializers are SiglipTextConfig's defaults (configuration_siglip.py, 4.46.1).</summary>
public sealed record SiglipTextConfig
{
    public int VocabSize { get; init; } = 32000;
    public int HiddenSize { get; init; } = 768;
    public int IntermediateSize { get; init; } = 3072;
    public int NumHiddenLayers { get; init; } = 12;
    public int NumAttentionHeads { get; init; } = 12;
    public int MaxPositionEmbeddings { get; init; } = 64;
    public string HiddenAct { get; init; } = "gelu_pytorch_tanh";
    public float LayerNormEps { get; init; } = 1e-6f;
    public int PadTokenId { get; init; } = 1;
    public int BosTokenId { get; init; } = 49406;
    public int EosTokenId { get; init; } = 49407;
}

/// <summary>vision_config of config.json (SiglipVisionConfig defaults, 4.46.1).</summary>
public sealed record SiglipVisionConfig
{
    public int HiddenSize { get; init; } = 768;
    public int IntermediateSize { get; init; } = 3072;
    public int NumHiddenLayers { get; init; } = 12;
    public int NumAttentionHeads { get; init; } = 12;
    public int NumChannels { get; init; } = 3;
    public int ImageSize { get; init; } = 224;
    public int PatchSize { get; init; } = 16;
    public string HiddenAct { get; init; } = "gelu_pytorch_tanh";
    public float LayerNormEps { get; init; } = 1e-6f;
    /// <summary>Absent = true (SiglipVisionTransformer: `True if not hasattr(config, "vision_use_head")`); PaliGemma sets false.</summary>
    public bool? VisionUseHead { get; init; }

    public int NumPatches => (ImageSize / PatchSize) * (ImageSize / PatchSize);
}

/// <summary>config.json of a SiglipModel: the two tower configs (absent sections keep the defaults).</summary>
public sealed record SiglipConfig
{
    public SiglipTextConfig TextConfig { get; init; } = new();
    public SiglipVisionConfig VisionConfig { get; init; } = new();
}

internal static class SiglipChecks
{
    public static void Validate(int hidden, int heads, int layers, string what, string source)
    {
        if (hidden <= 0 || heads <= 0 || layers < 0 || hidden % heads != 0)
            throw new ModelLoadException($"Invalid {what} in {source}: hidden_size {hidden} must be a positive multiple of num_attention_heads {heads}");
    }
}

/// <summary>patch_embedding (Conv2d, stride = patch) + position_embedding over the P patches.</summary>
public sealed class SiglipVisionEmbeddings
{
    private readonly PatchConv2d _patchEmbedding;
    private readonly Embedding _positionEmbedding;

    public SiglipVisionEmbeddings(VarBuilder vb, IBackend backend, SiglipVisionConfig c)
    {
        _patchEmbedding = PatchConv2d.Load(vb.Sub("patch_embedding"), backend, c.NumChannels, c.HiddenSize, c.PatchSize);
        _positionEmbedding = Embedding.Load(vb.Sub("position_embedding"), backend, c.NumPatches, c.HiddenSize);
    }

    /// <summary>(B, 3, S, S) → (B, P, C)</summary>
    public Tensor Forward(Tensor pixels)
    {
        using var patches = _patchEmbedding.Forward(pixels);               // (B, P, C)
        if (patches.Dim(1) != _positionEmbedding.NumEmbeddings)
            throw new ArgumentException($"SigLIP vision: {pixels.Dim(2)}x{pixels.Dim(3)} pixels give {patches.Dim(1)} patches, the position table has {_positionEmbedding.NumEmbeddings}");
        return patches.Add(_positionEmbedding.Weight);                     // learned positions, (P, C) broadcast
    }
}

/// <summary>Multi-head attention pooling ("MAP"): probe attends over the patches with torch.nn.MultiheadAttention
/// (packed in_proj_weight (3C, C) = q, k, v), then x + mlp(layernorm(x)); token 0 is the pooled output.</summary>
public sealed class SiglipMultiheadAttentionPoolingHead
{
    private readonly Tensor _probe;
    private readonly Linear _inProjQ, _inProjK, _inProjV, _outProj;
    private readonly LayerNorm _layernorm;
    private readonly CLIPMLP _mlp;
    private readonly int _heads;

    public SiglipMultiheadAttentionPoolingHead(VarBuilder vb, IBackend backend, SiglipVisionConfig c)
    {
        int h = c.HiddenSize;
        _heads = c.NumAttentionHeads;
        _probe = vb.TensorF32(backend, "probe", 1, 1, h);
        var attn = vb.Sub("attention");
        var w = attn.TensorF32(backend, "in_proj_weight", 3 * h, h);        // (3C, C)
        var b = attn.TensorF32(backend, "in_proj_bias", 3 * h);
        _inProjQ = new Linear(w.Narrow(0, 0, h), b.Narrow(0, 0, h));
        _inProjK = new Linear(w.Narrow(0, h, h), b.Narrow(0, h, h));
        _inProjV = new Linear(w.Narrow(0, 2 * h, h), b.Narrow(0, 2 * h, h));
        _outProj = Linear.Load(attn.Sub("out_proj"), backend, h, h);
        _layernorm = LayerNorm.Load(vb.Sub("layernorm"), backend, h, c.LayerNormEps);
        _mlp = new CLIPMLP(vb.Sub("mlp"), backend, h, c.IntermediateSize, c.HiddenAct);
    }

    /// <summary>(B, P, C) → (B, C)</summary>
    public Tensor Forward(Tensor x)
    {
        int b = x.Dim(0), p = x.Dim(1), c = x.Dim(2), d = c / _heads;
        using var q0 = _inProjQ.Forward(_probe);                           // (1, 1, C), same for every image
        using var q = q0.Reshape(1, 1, _heads, d).Expand(b, 1, _heads, d); // (B, 1, H, D)
        using var k0 = _inProjK.Forward(x);
        using var v0 = _inProjV.Forward(x);
        using var k = k0.Reshape(b, p, _heads, d);                          // (B, P, H, D)
        using var v = v0.Reshape(b, p, _heads, d);
        // F.multi_head_attention_forward (torch 1.13) scales q by 1/sqrt(D) before q·kᵀ: same math.
        using var a = x.Backend.Attention(q, k, v, AttentionMask.None, 1f / MathF.Sqrt(d)); // (B, 1, H, D)
        using var a2 = a.Reshape(b, 1, c);
        using var h = _outProj.Forward(a2);                                  // (B, 1, C)
        using var n = _layernorm.Forward(h);
        using var m = _mlp.Forward(n);
        using var r = h.Add(m);
        return r.Reshape(b, c);                                              // (B, C): token 0
    }
}

/// <summary>What a tower returns: last_hidden_state (after the final norm), pooler_output, optional hidden_states.</summary>
public sealed class TowerOutput(Tensor lastHiddenState, Tensor? pooled, List<Tensor>? hiddenStates) : IDisposable
{
    public Tensor LastHiddenState { get; } = lastHiddenState;
    public Tensor? PooledOutput { get; } = pooled;
    public IReadOnlyList<Tensor>? HiddenStates { get; } = hiddenStates;

    public void Dispose()
    {
        LastHiddenState.Dispose();
        PooledOutput?.Dispose();
        if (HiddenStates is not null) foreach (var h in HiddenStates) h.Dispose();
    }
}

/// <summary>`vision_model.*`: embeddings → encoder → post_layernorm → optional MAP head.</summary>
public sealed class SiglipVisionTransformer
{
    private readonly SiglipVisionEmbeddings _embeddings;
    private readonly CLIPEncoder _encoder;
    private readonly LayerNorm _postLayernorm;
    private readonly SiglipMultiheadAttentionPoolingHead? _head;

    public SiglipVisionTransformer(VarBuilder vb, IBackend backend, SiglipVisionConfig c)
    {
        SiglipChecks.Validate(c.HiddenSize, c.NumAttentionHeads, c.NumHiddenLayers, "vision_config", vb.Checkpoint.Source);
        Config = c;
        _embeddings = new SiglipVisionEmbeddings(vb.Sub("embeddings"), backend, c);
        _encoder = new CLIPEncoder(vb.Sub("encoder"), backend, c.NumHiddenLayers, c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads, c.HiddenAct, c.LayerNormEps);
        _postLayernorm = LayerNorm.Load(vb.Sub("post_layernorm"), backend, c.HiddenSize, c.LayerNormEps);
        if (c.VisionUseHead ?? true) _head = new SiglipMultiheadAttentionPoolingHead(vb.Sub("head"), backend, c);
    }

    public SiglipVisionConfig Config { get; }

    /// <summary>pixels (B, 3, S, S) → last_hidden_state (B, P, C) after post_layernorm, pooled (B, C) when the
    /// tower has its head.</summary>
    public TowerOutput Forward(Tensor pixels, bool outputHiddenStates = false)
    {
        var hs = outputHiddenStates ? new List<Tensor>() : null;
        using var e = _embeddings.Forward(pixels);                          // (B, P, C)
        using var h = _encoder.Forward(e, AttentionMask.None, hs);
        var last = _postLayernorm.Forward(h);
        var pooled = _head?.Forward(last);
        return new TowerOutput(last, pooled, hs);
    }
}

/// <summary>token_embedding + position_embedding (positions 0..T-1).</summary>
public sealed class SiglipTextEmbeddings
{
    private readonly Embedding _tokenEmbedding, _positionEmbedding;

    public SiglipTextEmbeddings(VarBuilder vb, IBackend backend, SiglipTextConfig c)
    {
        _tokenEmbedding = Embedding.Load(vb.Sub("token_embedding"), backend, c.VocabSize, c.HiddenSize);
        _positionEmbedding = Embedding.Load(vb.Sub("position_embedding"), backend, c.MaxPositionEmbeddings, c.HiddenSize);
    }

    /// <summary>ids (B, T) → (B, T, C)</summary>
    public Tensor Forward(Tensor ids)
    {
        int t = ids.Dim(1);
        if (t > _positionEmbedding.NumEmbeddings)
            throw new ArgumentException($"SigLIP text: {t} tokens exceed max_position_embeddings {_positionEmbedding.NumEmbeddings}");
        using var tok = _tokenEmbedding.Forward(ids);                        // (B, T, C)
        using var pos = _positionEmbedding.Weight.Narrow(0, 0, t);           // (T, C)
        return tok.Add(pos);
    }
}

/// <summary>`text_model.*`: embeddings → encoder (bidirectional; padding mask only if given) → final_layer_norm;
/// pooled = head(last position).</summary>
public sealed class SiglipTextTransformer
{
    private readonly SiglipTextEmbeddings _embeddings;
    private readonly CLIPEncoder _encoder;
    private readonly LayerNorm _finalLayerNorm;
    private readonly Linear _head;

    public SiglipTextTransformer(VarBuilder vb, IBackend backend, SiglipTextConfig c)
    {
        SiglipChecks.Validate(c.HiddenSize, c.NumAttentionHeads, c.NumHiddenLayers, "text_config", vb.Checkpoint.Source);
        Config = c;
        _embeddings = new SiglipTextEmbeddings(vb.Sub("embeddings"), backend, c);
        _encoder = new CLIPEncoder(vb.Sub("encoder"), backend, c.NumHiddenLayers, c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads, c.HiddenAct, c.LayerNormEps);
        _finalLayerNorm = LayerNorm.Load(vb.Sub("final_layer_norm"), backend, c.HiddenSize, c.LayerNormEps);
        _head = Linear.Load(vb.Sub("head"), backend, c.HiddenSize, c.HiddenSize);
    }

    public SiglipTextConfig Config { get; }

    /// <summary>ids (B, T), mask (B, T) or null → last_hidden_state (B, T, C), pooled (B, C).</summary>
    public TowerOutput Forward(Tensor ids, Tensor? attentionMask = null, bool outputHiddenStates = false)
    {
        var hs = outputHiddenStates ? new List<Tensor>() : null;
        // No causal mask (modeling_siglip.py: "SigLIP's text model does not use a causal mask, unlike CLIP").
        var mask = attentionMask is null ? AttentionMask.None : new AttentionMask { KeyPadding = attentionMask };
        using var e = _embeddings.Forward(ids);
        using var h = _encoder.Forward(e, mask, hs);
        var last = _finalLayerNorm.Forward(h);                               // (B, T, C)
        // "Assuming sticky EOS tokenization, last token is always EOS": pool the LAST position, not an eos search.
        using var lastToken = last.Select(1, -1);                            // (B, C)
        var pooled = _head.Forward(lastToken);
        return new TowerOutput(last, pooled, hs);
    }
}

/// <summary>`SiglipModel`: text_model, vision_model, logit_scale, logit_bias.</summary>
public sealed class SiglipModel : IImageTextModel
{
    private readonly SafetensorsCheckpoint? _checkpoint;
    private readonly IBackend _backend;

    public SiglipModel(VarBuilder vb, IBackend backend, SiglipTextConfig text, SiglipVisionConfig vision, SafetensorsCheckpoint? owned = null)
    {
        _backend = backend;
        _checkpoint = owned;
        TextModel = new SiglipTextTransformer(vb.Sub("text_model"), backend, text);
        VisionModel = new SiglipVisionTransformer(vb.Sub("vision_model"), backend, vision);
        using var scale = vb.TensorF32(backend, "logit_scale", 1);
        using var bias = vb.TensorF32(backend, "logit_bias", 1);
        LogitScale = scale.Item();
        LogitBias = bias.Item();
    }

    /// <summary>Loads config.json + model.safetensors (or a sharded index) from <paramref name="directory"/>; weights
    /// stay memory-mapped. Every stored key must be used (position_ids buffers excepted).</summary>
    public static SiglipModel Load(string directory, IBackend backend)
    {
        var config = HfConfig.Load(directory);
        config.ExpectModelType("siglip", "SigLIP");
        var c = config.Bind<SiglipConfig>();
        return VarBuilder.Build(directory, (vb, ckpt) => new SiglipModel(vb, backend, c.TextConfig, c.VisionConfig, ckpt),
            VarBuilder.IsPositionIdsBuffer);
    }

    public SiglipTextTransformer TextModel { get; }
    public SiglipVisionTransformer VisionModel { get; }
    public float LogitScale { get; }
    public float LogitBias { get; }

    public string Family => "siglip";
    public int EmbeddingDim => VisionModel.Config.HiddenSize;
    public int ImageSize => VisionModel.Config.ImageSize;
    public ScoreKind ScoreKind => ScoreKind.Sigmoid;

    /// <summary>get_image_features: the MAP head's output (B, C), unnormalised.</summary>
    public Tensor GetImageFeatures(Tensor pixels)
    {
        using var o = VisionModel.Forward(pixels);
        return o.PooledOutput!.Contiguous();
    }

    /// <summary>get_text_features: head(final_layer_norm(h)[:, -1]) (B, C), unnormalised.</summary>
    public Tensor GetTextFeatures(Tensor ids, Tensor? attentionMask = null)
    {
        using var o = TextModel.Forward(ids, attentionMask);
        return o.PooledOutput!.Contiguous();
    }

    /// <summary>logits_per_text (T, I) = text_embeds·image_embedsᵀ · exp(logit_scale) + logit_bias, embeds normalised.</summary>
    public Tensor LogitsPerText(Tensor textEmbeds, Tensor imageEmbeds)
    {
        using var it = imageEmbeds.Transpose(0, 1);
        using var cos = textEmbeds.MatMul(it);
        return cos.Scale(MathF.Exp(LogitScale), LogitBias);
    }

    public float[,] EmbedImages(float[] pixelValues, int batch, bool normalize = true) =>
        ContrastiveHelpers.EmbedImages(_backend, GetImageFeatures, pixelValues, batch, VisionModel.Config.NumChannels, ImageSize, normalize);

    public float[,] EmbedTexts(long[,] ids, long[,]? attentionMask = null, bool normalize = true) =>
        ContrastiveHelpers.EmbedTexts(_backend, GetTextFeatures, ids, attentionMask, normalize);

    public ImageTextScores Score(float[,] imageEmbeds, float[,] textEmbeds)
    {
        var logits = ContrastiveHelpers.CosineTimes(imageEmbeds, textEmbeds, MathF.Exp(LogitScale), LogitBias);
        var probs = new float[logits.GetLength(0), logits.GetLength(1)];
        for (int i = 0; i < logits.GetLength(0); i++)
            for (int j = 0; j < logits.GetLength(1); j++)
                probs[i, j] = 1f / (1f + MathF.Exp(-logits[i, j]));        // each pair on its own: sigmoid
        return new ImageTextScores(logits, probs);
    }

    public void Dispose() => _checkpoint?.Dispose();
}

/// <summary>Host-side helpers shared by the contrastive models' IImageTextModel implementations.</summary>
public static class ContrastiveHelpers
{
    /// <summary>IImageTextModel.EmbedImages for a model whose image features are <paramref name="features"/>(pixels):
    /// checks the pixel count, runs it, L2-normalises unless told not to → (B, E).</summary>
    public static float[,] EmbedImages(IBackend backend, Func<Tensor, Tensor> features, float[] pixelValues, int batch,
        int channels, int size, bool normalize)
    {
        if (batch <= 0 || pixelValues.Length != (long)batch * channels * size * size)
            throw new ArgumentException($"EmbedImages: {pixelValues.Length} values is not {batch} images of {channels}x{size}x{size}");
        using var px = backend.FromFloats(pixelValues, batch, channels, size, size);
        using var f = features(px);
        return ToHost(f, normalize);
    }

    /// <summary>IImageTextModel.EmbedTexts for a model whose text features are <paramref name="features"/>(ids, mask) → (B, E).</summary>
    public static float[,] EmbedTexts(IBackend backend, Func<Tensor, Tensor?, Tensor> features, long[,] ids,
        long[,]? attentionMask, bool normalize)
    {
        using var idsT = Ids(backend, ids);
        using var maskT = attentionMask is null ? null : Ids(backend, attentionMask);
        using var f = features(idsT, maskT);
        return ToHost(f, normalize);
    }

    private static float[,] ToHost(Tensor features, bool normalize)
    {
        if (!normalize) return features.ToFloat2D();
        using var n = features.L2Normalize();
        return n.ToFloat2D();
    }

    /// <summary>CLIP's rule, logits_per_image.softmax(dim=1): the texts compete for each image. logits (I, T) → (I, T).</summary>
    public static float[,] SoftmaxOverTexts(float[,] logits)
    {
        int ni = logits.GetLength(0), nt = logits.GetLength(1);
        var probs = new float[ni, nt];
        for (int i = 0; i < ni; i++)
        {
            float max = float.NegativeInfinity;
            for (int t = 0; t < nt; t++) max = MathF.Max(max, logits[i, t]);
            double sum = 0;
            for (int t = 0; t < nt; t++) sum += Math.Exp(logits[i, t] - max);
            for (int t = 0; t < nt; t++) probs[i, t] = (float)(Math.Exp(logits[i, t] - max) / sum);
        }
        return probs;
    }

    public static Tensor Ids(IBackend backend, long[,] ids)
    {
        var flat = new long[ids.Length];
        Buffer.BlockCopy(ids, 0, flat, 0, flat.Length * sizeof(long));
        return backend.FromInt64(flat, ids.GetLength(0), ids.GetLength(1));
    }

    /// <summary>logits[i, t] = scale · ⟨image_i, text_t⟩ + bias (the embeddings are already normalised).</summary>
    public static float[,] CosineTimes(float[,] images, float[,] texts, float scale, float bias)
    {
        int ni = images.GetLength(0), nt = texts.GetLength(0), e = images.GetLength(1);
        if (texts.GetLength(1) != e)
            throw new ArgumentException($"Score: image embeddings have {e} dims, text embeddings {texts.GetLength(1)}");
        var r = new float[ni, nt];
        for (int i = 0; i < ni; i++)
            for (int t = 0; t < nt; t++)
            {
                float dot = 0;
                for (int k = 0; k < e; k++) dot += images[i, k] * texts[t, k];
                r[i, t] = dot * scale + bias;
            }
        return r;
    }
}
