// CLIP (`CLIPModel`, model_type "clip"): openai/clip-vit-base-patch32, clip-vit-large-patch14 and friends; its
// vision tower is reused by AltCLIP, its encoder by SigLIP and its MLP by BLIP-2's vision tower. Follows transformers 4.46.1 src/transformers/models/clip/modeling_clip.py
// (eager attention) and candle-transformers/src/models/clip/. Quirks, each once below: quick_gelu
// (x·sigmoid(1.702x)) in the OpenAI checkpoints; the text tower is causal AND padding-masked; text pooling takes
// the eos position — with the legacy config value eos_token_id == 2 that is `input_ids.argmax(-1)` (the highest id
// is eos in OpenAI's vocabulary), otherwise the first `input_ids == eos_token_id`; the vision tower prepends a
// learned class token, applies `pre_layrnorm` (sic) before the encoder and `post_layernorm` to the class token
// only; projections have no bias; scores are softmax over the texts of cos · exp(logit_scale).
//
// Dimension letters: B batch, T text tokens, P patches (+1 class token), C hidden, H heads, D head dim, E projection.
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Nn;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Models;

/// <summary>text_config (CLIPTextConfig defaults, configuration_clip.py 4.46.1).</summary>
public sealed record CLIPTextConfig
{
    public int VocabSize { get; init; } = 49408;
    public int HiddenSize { get; init; } = 512;
    public int IntermediateSize { get; init; } = 2048;
    public int ProjectionDim { get; init; } = 512;
    public int NumHiddenLayers { get; init; } = 12;
    public int NumAttentionHeads { get; init; } = 8;
    public int MaxPositionEmbeddings { get; init; } = 77;
    public string HiddenAct { get; init; } = "quick_gelu";
    public float LayerNormEps { get; init; } = 1e-5f;
    public int PadTokenId { get; init; } = 1;
    public int BosTokenId { get; init; } = 49406;
    public int EosTokenId { get; init; } = 49407;
}

/// <summary>vision_config (CLIPVisionConfig defaults, 4.46.1).</summary>
public sealed record CLIPVisionConfig
{
    public int HiddenSize { get; init; } = 768;
    public int IntermediateSize { get; init; } = 3072;
    public int ProjectionDim { get; init; } = 512;
    public int NumHiddenLayers { get; init; } = 12;
    public int NumAttentionHeads { get; init; } = 12;
    public int NumChannels { get; init; } = 3;
    public int ImageSize { get; init; } = 224;
    public int PatchSize { get; init; } = 32;
    public string HiddenAct { get; init; } = "quick_gelu";
    public float LayerNormEps { get; init; } = 1e-5f;

    public int NumPatches => (ImageSize / PatchSize) * (ImageSize / PatchSize);
}

/// <summary>config.json of a CLIPModel (CLIPConfig defaults, 4.46.1).</summary>
public sealed record CLIPConfig
{
    public CLIPTextConfig TextConfig { get; init; } = new();
    public CLIPVisionConfig VisionConfig { get; init; } = new();
    public int ProjectionDim { get; init; } = 512;
}

/// <summary>q_proj, k_proj, v_proj, out_proj. HF scales q before q·kᵀ (`q_proj(x) * scale`); the attention op
/// scales the dot product: the same product up to f32 rounding.</summary>
public sealed class CLIPAttention
{
    private readonly Linear _qProj, _kProj, _vProj, _outProj;
    private readonly int _heads;
    private readonly float _scale;

    public CLIPAttention(VarBuilder vb, IBackend backend, int hidden, int heads)
    {
        if (hidden % heads != 0)
            throw new ModelLoadException($"CLIP attention at '{vb.Prefix}': hidden_size {hidden} is not a multiple of num_attention_heads {heads}");
        _heads = heads;
        _scale = 1f / MathF.Sqrt(hidden / heads);
        _kProj = Linear.Load(vb.Sub("k_proj"), backend, hidden, hidden);
        _vProj = Linear.Load(vb.Sub("v_proj"), backend, hidden, hidden);
        _qProj = Linear.Load(vb.Sub("q_proj"), backend, hidden, hidden);
        _outProj = Linear.Load(vb.Sub("out_proj"), backend, hidden, hidden);
    }

    /// <summary>(B, T, C) → (B, T, C)</summary>
    public Tensor Forward(Tensor x, AttentionMask mask)
    {
        int b = x.Dim(0), t = x.Dim(1), c = x.Dim(2), d = c / _heads;
        using var q0 = _qProj.Forward(x);
        using var k0 = _kProj.Forward(x);
        using var v0 = _vProj.Forward(x);
        using var q = q0.Reshape(b, t, _heads, d);                          // (B, T, H, D)
        using var k = k0.Reshape(b, t, _heads, d);
        using var v = v0.Reshape(b, t, _heads, d);
        using var a = x.Backend.Attention(q, k, v, mask, _scale);
        using var a2 = a.Reshape(b, t, c);
        return _outProj.Forward(a2);
    }
}

/// <summary>fc2(act(fc1(x))).</summary>
public sealed class CLIPMLP
{
    private readonly Linear _fc1, _fc2;
    private readonly Activation _act;

    public CLIPMLP(VarBuilder vb, IBackend backend, int hidden, int intermediate, string hiddenAct)
    {
        _act = Activations.FromHf(hiddenAct);
        _fc1 = Linear.Load(vb.Sub("fc1"), backend, hidden, intermediate);
        _fc2 = Linear.Load(vb.Sub("fc2"), backend, intermediate, hidden);
    }

    public Tensor Forward(Tensor x)
    {
        using var h = _fc1.Forward(x);
        using var a = h.Activate(_act);
        return _fc2.Forward(a);
    }
}

/// <summary>Pre-LN block: x + attn(layer_norm1(x)), then + mlp(layer_norm2(·)).</summary>
public sealed class CLIPEncoderLayer
{
    private readonly CLIPAttention _selfAttn;
    private readonly LayerNorm _layerNorm1, _layerNorm2;
    private readonly CLIPMLP _mlp;

    public CLIPEncoderLayer(VarBuilder vb, IBackend backend, int hidden, int intermediate, int heads, string act, float eps)
    {
        _selfAttn = new CLIPAttention(vb.Sub("self_attn"), backend, hidden, heads);
        _layerNorm1 = LayerNorm.Load(vb.Sub("layer_norm1"), backend, hidden, eps);
        _mlp = new CLIPMLP(vb.Sub("mlp"), backend, hidden, intermediate, act);
        _layerNorm2 = LayerNorm.Load(vb.Sub("layer_norm2"), backend, hidden, eps);
    }

    /// <summary>(B, T, C) → (B, T, C)</summary>
    public Tensor Forward(Tensor x, AttentionMask mask)
    {
        Tensor h;
        using (var n = _layerNorm1.Forward(x))
        using (var a = _selfAttn.Forward(n, mask))
            h = x.Add(a);
        using (h)
        using (var n = _layerNorm2.Forward(h))
        using (var m = _mlp.Forward(n))
            return h.Add(m);
    }
}

/// <summary>`encoder.layers.{i}`; hidden_states = input of every layer, then the output. Also SigLIP's encoder
/// (modeling_siglip.py copies it from CLIP).</summary>
public sealed class CLIPEncoder
{
    private readonly CLIPEncoderLayer[] _layers;

    public CLIPEncoder(VarBuilder vb, IBackend backend, int layers, int hidden, int intermediate, int heads, string act, float eps)
    {
        _layers = new CLIPEncoderLayer[layers];
        for (int i = 0; i < layers; i++)
            _layers[i] = new CLIPEncoderLayer(vb.Sub("layers").Sub(i), backend, hidden, intermediate, heads, act, eps);
    }

    /// <summary>(B, T, C) → (B, T, C). When <paramref name="hiddenStates"/> is given, copies of the layer inputs and
    /// the final output are added to it (the caller disposes them); <paramref name="x"/> is not disposed.</summary>
    public Tensor Forward(Tensor x, AttentionMask mask, List<Tensor>? hiddenStates = null)
    {
        var h = x.Contiguous();
        foreach (var layer in _layers)
        {
            hiddenStates?.Add(h.Contiguous());
            var next = layer.Forward(h, mask);
            h.Dispose();
            h = next;
        }
        hiddenStates?.Add(h.Contiguous());
        return h;
    }
}

/// <summary>[class_embedding; patch_embedding(pixels)] + position_embedding. The patch conv has no bias.</summary>
public sealed class CLIPVisionEmbeddings
{
    private readonly Tensor _classEmbedding;
    private readonly PatchConv2d _patchEmbedding;
    private readonly Embedding _positionEmbedding;

    public CLIPVisionEmbeddings(VarBuilder vb, IBackend backend, CLIPVisionConfig c)
    {
        _classEmbedding = vb.TensorF32(backend, "class_embedding", c.HiddenSize);
        _patchEmbedding = PatchConv2d.Load(vb.Sub("patch_embedding"), backend, c.NumChannels, c.HiddenSize, c.PatchSize, bias: false);
        _positionEmbedding = Embedding.Load(vb.Sub("position_embedding"), backend, c.NumPatches + 1, c.HiddenSize);
    }

    /// <summary>(B, 3, S, S) → (B, 1 + P, C)</summary>
    public Tensor Forward(Tensor pixels)
    {
        int b = pixels.Dim(0);
        using var patches = _patchEmbedding.Forward(pixels);               // (B, P, C)
        int c = patches.Dim(2);
        if (patches.Dim(1) + 1 != _positionEmbedding.NumEmbeddings)
            throw new ArgumentException($"CLIP vision: {pixels.Dim(2)}x{pixels.Dim(3)} pixels give {patches.Dim(1)} patches, the position table has {_positionEmbedding.NumEmbeddings} rows (patches + class token)");
        using var cls = _classEmbedding.Reshape(1, 1, c).Expand(b, 1, c);   // (B, 1, C)
        using var tokens = pixels.Backend.Concat([cls, patches], 1);        // (B, 1 + P, C)
        return tokens.Add(_positionEmbedding.Weight);
    }
}

/// <summary>token_embedding + position_embedding (positions 0..T-1).</summary>
public sealed class CLIPTextEmbeddings
{
    private readonly Embedding _tokenEmbedding, _positionEmbedding;

    public CLIPTextEmbeddings(VarBuilder vb, IBackend backend, CLIPTextConfig c)
    {
        _tokenEmbedding = Embedding.Load(vb.Sub("token_embedding"), backend, c.VocabSize, c.HiddenSize);
        _positionEmbedding = Embedding.Load(vb.Sub("position_embedding"), backend, c.MaxPositionEmbeddings, c.HiddenSize);
    }

    /// <summary>ids (B, T) → (B, T, C)</summary>
    public Tensor Forward(Tensor ids)
    {
        int t = ids.Dim(1);
        if (t > _positionEmbedding.NumEmbeddings)
            throw new ArgumentException($"CLIP text: {t} tokens exceed max_position_embeddings {_positionEmbedding.NumEmbeddings}");
        using var tok = _tokenEmbedding.Forward(ids);
        using var pos = _positionEmbedding.Weight.Narrow(0, 0, t);
        return tok.Add(pos);
    }
}

/// <summary>`vision_model.*`: embeddings → pre_layrnorm → encoder; pooled = post_layernorm(class token).
/// last_hidden_state is the encoder output WITHOUT post_layernorm (as HF returns it).</summary>
public sealed class CLIPVisionTransformer
{
    private readonly CLIPVisionEmbeddings _embeddings;
    private readonly LayerNorm _preLayrnorm, _postLayernorm;
    private readonly CLIPEncoder _encoder;

    public CLIPVisionTransformer(VarBuilder vb, IBackend backend, CLIPVisionConfig c)
    {
        Config = c;
        _embeddings = new CLIPVisionEmbeddings(vb.Sub("embeddings"), backend, c);
        _preLayrnorm = LayerNorm.Load(vb.Sub("pre_layrnorm"), backend, c.HiddenSize, c.LayerNormEps);
        _encoder = new CLIPEncoder(vb.Sub("encoder"), backend, c.NumHiddenLayers, c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads, c.HiddenAct, c.LayerNormEps);
        _postLayernorm = LayerNorm.Load(vb.Sub("post_layernorm"), backend, c.HiddenSize, c.LayerNormEps);
    }

    public CLIPVisionConfig Config { get; }

    /// <summary>pixels (B, 3, S, S) → last_hidden_state (B, 1 + P, C), pooled (B, C). hidden_states[0] is the
    /// encoder input, i.e. AFTER pre_layrnorm.</summary>
    public TowerOutput Forward(Tensor pixels, bool outputHiddenStates = false)
    {
        var hs = outputHiddenStates ? new List<Tensor>() : null;
        using var e = _embeddings.Forward(pixels);
        using var n = _preLayrnorm.Forward(e);
        var last = _encoder.Forward(n, AttentionMask.None, hs);             // (B, 1 + P, C)
        using var cls = last.Select(1, 0);                                   // (B, C)
        var pooled = _postLayernorm.Forward(cls);
        return new TowerOutput(last, pooled, hs);
    }
}

/// <summary>`text_model.*`: embeddings → encoder (causal + padding mask) → final_layer_norm; pooled = the eos row.</summary>
public sealed class CLIPTextTransformer
{
    private readonly CLIPTextEmbeddings _embeddings;
    private readonly CLIPEncoder _encoder;
    private readonly LayerNorm _finalLayerNorm;

    public CLIPTextTransformer(VarBuilder vb, IBackend backend, CLIPTextConfig c)
    {
        Config = c;
        _embeddings = new CLIPTextEmbeddings(vb.Sub("embeddings"), backend, c);
        _encoder = new CLIPEncoder(vb.Sub("encoder"), backend, c.NumHiddenLayers, c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads, c.HiddenAct, c.LayerNormEps);
        _finalLayerNorm = LayerNorm.Load(vb.Sub("final_layer_norm"), backend, c.HiddenSize, c.LayerNormEps);
    }

    public CLIPTextConfig Config { get; }

    /// <summary>The position pooled for each row (CLIPTextTransformer.forward): eos_token_id == 2 is the legacy
    /// OpenAI config → argmax of the ids (first maximum); else the first position holding eos_token_id (0 if none,
    /// as argmax of an all-zero row gives).</summary>
    public long[] PoolPositions(long[] ids, int batch, int tokens)
    {
        var r = new long[batch];
        for (int b = 0; b < batch; b++)
        {
            long best = 0;
            for (int j = 0; j < tokens; j++)
            {
                long id = ids[b * tokens + j];
                if (Config.EosTokenId == 2 ? id > ids[b * tokens + best] : id == Config.EosTokenId)
                {
                    best = j;
                    if (Config.EosTokenId != 2) break;
                }
            }
            r[b] = best;
        }
        return r;
    }

    /// <summary>ids (B, T), mask (B, T) or null → last_hidden_state (B, T, C) after final_layer_norm, pooled (B, C).</summary>
    public TowerOutput Forward(Tensor ids, Tensor? attentionMask = null, bool outputHiddenStates = false)
    {
        int b = ids.Dim(0), t = ids.Dim(1);
        var hs = outputHiddenStates ? new List<Tensor>() : null;
        var mask = new AttentionMask { Causal = true, KeyPadding = attentionMask };
        using var e = _embeddings.Forward(ids);
        using var h = _encoder.Forward(e, mask, hs);
        var last = _finalLayerNorm.Forward(h);                               // (B, T, C)
        var pos = PoolPositions(ids.ToInt64Array(), b, t);
        var rows = new long[b];
        for (int i = 0; i < b; i++) rows[i] = i * t + pos[i];
        using var rowIds = ids.Backend.FromInt64(rows, b);
        using var flat = last.Reshape(b * t, last.Dim(2));                   // (B·T, C)
        var pooled = ids.Backend.Embedding(rowIds, flat);                    // (B, C): row gather
        return new TowerOutput(last, pooled, hs);
    }
}

/// <summary>The CLIP-style dual encoder shared by `CLIPModel` and `AltCLIPModel`: a text tower (the subclass's),
/// CLIP's vision tower under vision_model, bias-free visual_projection / text_projection, logit_scale; scores are the
/// softmax over the texts of cos · exp(logit_scale) (modeling_clip.py CLIPModel.forward, modeling_altclip.py alike).</summary>
public abstract class ClipStyleDualEncoder : IImageTextModel
{
    private readonly SafetensorsCheckpoint? _checkpoint;
    private readonly IBackend _backend;
    private readonly Linear _visualProjection, _textProjection;
    private readonly int _numChannels;

    protected ClipStyleDualEncoder(VarBuilder vb, IBackend backend, CLIPVisionConfig vision, int textHidden, int projectionDim,
        SafetensorsCheckpoint? owned)
    {
        _backend = backend;
        _checkpoint = owned;
        _numChannels = vision.NumChannels;
        ImageSize = vision.ImageSize;
        EmbeddingDim = projectionDim;
        VisionModel = new CLIPVisionTransformer(vb.Sub("vision_model"), backend, vision);
        _visualProjection = Linear.Load(vb.Sub("visual_projection"), backend, vision.HiddenSize, projectionDim, bias: false);
        _textProjection = Linear.Load(vb.Sub("text_projection"), backend, textHidden, projectionDim, bias: false);
        using var scale = vb.TensorF32(backend, "logit_scale");
        if (scale.ElementCount != 1)
            throw new ModelLoadException($"'{vb.Key("logit_scale")}' must hold one value, got shape {Tensor.ShapeString(scale.Shape)}");
        LogitScale = scale.Item();
    }

    public CLIPVisionTransformer VisionModel { get; }
    public float LogitScale { get; }

    public abstract string Family { get; }
    public int EmbeddingDim { get; }
    public int ImageSize { get; }
    public ScoreKind ScoreKind => ScoreKind.SoftmaxOverTexts;

    /// <summary>The subclass's text tower: last hidden state (B, T, C) and the pooled output (B, C) it projects.</summary>
    public abstract TowerOutput ForwardText(Tensor ids, Tensor? attentionMask = null, bool outputHiddenStates = false);

    /// <summary>visual_projection(pooled) (B, E), unnormalised.</summary>
    public Tensor GetImageFeatures(Tensor pixels)
    {
        using var o = VisionModel.Forward(pixels);
        return _visualProjection.Forward(o.PooledOutput!);
    }

    /// <summary>text_projection(pooled) (B, E), unnormalised.</summary>
    public Tensor GetTextFeatures(Tensor ids, Tensor? attentionMask = null)
    {
        using var o = ForwardText(ids, attentionMask);
        return _textProjection.Forward(o.PooledOutput!);
    }

    public Tensor ProjectImage(Tensor pooled) => _visualProjection.Forward(pooled);
    public Tensor ProjectText(Tensor pooled) => _textProjection.Forward(pooled);

    /// <summary>logits_per_text (T, I) = text_embeds·image_embedsᵀ · exp(logit_scale), embeds normalised.</summary>
    public Tensor LogitsPerText(Tensor textEmbeds, Tensor imageEmbeds)
    {
        using var it = imageEmbeds.Transpose(0, 1);
        using var cos = textEmbeds.MatMul(it);
        return cos.Scale(MathF.Exp(LogitScale));
    }

    public float[,] EmbedImages(float[] pixelValues, int batch, bool normalize = true) =>
        ContrastiveHelpers.EmbedImages(_backend, GetImageFeatures, pixelValues, batch, _numChannels, ImageSize, normalize);

    public float[,] EmbedTexts(long[,] ids, long[,]? attentionMask = null, bool normalize = true) =>
        ContrastiveHelpers.EmbedTexts(_backend, GetTextFeatures, ids, attentionMask, normalize);

    /// <summary>logits = exp(logit_scale) · cos; probabilities = softmax over the texts of each image.</summary>
    public ImageTextScores Score(float[,] imageEmbeds, float[,] textEmbeds)
    {
        var logits = ContrastiveHelpers.CosineTimes(imageEmbeds, textEmbeds, MathF.Exp(LogitScale), 0f);
        return new ImageTextScores(logits, ContrastiveHelpers.SoftmaxOverTexts(logits));
    }

    public void Dispose()
    {
        _checkpoint?.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>`CLIPModel`: text_model, vision_model, visual_projection, text_projection, logit_scale.</summary>
public sealed class CLIPModel : ClipStyleDualEncoder
{
    public CLIPModel(VarBuilder vb, IBackend backend, CLIPConfig c, SafetensorsCheckpoint? owned = null)
        : base(vb, backend, c.VisionConfig, c.TextConfig.HiddenSize, c.ProjectionDim, owned)
    {
        Config = c;
        TextModel = new CLIPTextTransformer(vb.Sub("text_model"), backend, c.TextConfig);
    }

    /// <summary>Loads config.json + weights from <paramref name="directory"/> (memory-mapped); every key must be used.</summary>
    public static CLIPModel Load(string directory, IBackend backend)
    {
        var config = HfConfig.Load(directory);
        config.ExpectModelType("clip", "CLIP");
        var c = config.Bind<CLIPConfig>();
        return VarBuilder.Build(directory, (vb, ckpt) => new CLIPModel(vb, backend, c, ckpt), VarBuilder.IsPositionIdsBuffer);
    }

    public CLIPConfig Config { get; }
    public CLIPTextTransformer TextModel { get; }
    public override string Family => "clip";

    public override TowerOutput ForwardText(Tensor ids, Tensor? attentionMask = null, bool outputHiddenStates = false) =>
        TextModel.Forward(ids, attentionMask, outputHiddenStates);
}
