// BLIP-2 (model_type "blip-2"): `Blip2ForConditionalGeneration` (Salesforce/blip2-opt-2.7b, blip2-flan-t5-xl, …:
// captions / VQA with an OPT or Flan-T5 language model), and the vision tower + Q-Former front end that
// `Blip2ForImageTextRetrieval` (Blip2Retrieval.cs, Salesforce/blip2-itm-vit-g) shares. Follows transformers 4.46.1
// src/transformers/models/blip_2/modeling_blip_2.py (eager attention). Composes the vision tower and Q-Former below
// with Opt.cs (`language_model.model.decoder.*`) or T5.cs (`language_model.{shared,encoder,decoder,lm_head}`).
// BLIP-2's quirks, each once below:
//  - vision tower (EVA ViT): patch conv WITH bias, class token and position embedding as plain parameters, NO
//    pre-layernorm; fused `qkv` Linear split as reshape(B, T, 3, H, D) whose bias is cat(q_bias, 0, v_bias) (stored
//    as `qkv.bias` by current checkpoints, as q_bias/v_bias by older ones); exact-erf GELU; post_layernorm on the whole
//    sequence, and the pooler applies post_layernorm a SECOND time to the class token;
//  - Q-Former (BERT-like, post-LN): layernorm on the query (and text) embeddings; every layer self-attends; layers
//    with index % cross_attention_frequency == 0 cross-attend from the query positions to the image; query
//    positions use intermediate_query/output_query, text positions intermediate/output; padding masks are additive
//    (1 − mask)·−10000 (a padded key's weight is exp(−10000) = 0 in f32, so KeyPadding is the same numbers);
//  - the language model input: the projected queries replace the embeddings of `image_token_index` tokens in order
//    (current processors insert num_query_tokens of them), or, when the config has no image_token_index, are
//    concatenated in front of the text (4.46.1 keeps both paths);
//  - generate(): decoder-only LMs run from inputs_embeds and the result is `bos + new tokens` (the prompt is not
//    echoed); encoder-decoders return `decoder_start + new tokens`;
//  - retrieval (ITM and ITC, `Blip2ForImageTextRetrieval`) lives in Blip2Retrieval.cs.
//
// Dimension letters: B batch, P patches + 1, Cv vision width, Q query tokens, T text tokens, C Q-Former width,
// Ct language-model width, E image_text_hidden_size, V vocabulary.
using System.Text.Json.Serialization;
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Nn;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Models;

/// <summary>vision_config (Blip2VisionConfig defaults, configuration_blip_2.py 4.46.1: ViT-g/14).</summary>
public sealed record Blip2VisionConfig
{
    public int HiddenSize { get; init; } = 1408;
    public int IntermediateSize { get; init; } = 6144;
    public int NumHiddenLayers { get; init; } = 39;
    public int NumAttentionHeads { get; init; } = 16;
    public int ImageSize { get; init; } = 224;
    public int PatchSize { get; init; } = 14;
    public string HiddenAct { get; init; } = "gelu";
    public float LayerNormEps { get; init; } = 1e-6f;
    public bool QkvBias { get; init; } = true;

    public int NumPatches => (ImageSize / PatchSize) * (ImageSize / PatchSize);
}

/// <summary>qformer_config (Blip2QFormerConfig defaults, 4.46.1). encoder_hidden_size is overwritten with the vision
/// width by Blip2Config, as HF does.</summary>
public sealed record Blip2QFormerConfig
{
    public int VocabSize { get; init; } = 30522;
    public int HiddenSize { get; init; } = 768;
    public int NumHiddenLayers { get; init; } = 12;
    public int NumAttentionHeads { get; init; } = 12;
    public int IntermediateSize { get; init; } = 3072;
    public string HiddenAct { get; init; } = "gelu";
    public int MaxPositionEmbeddings { get; init; } = 512;
    public float LayerNormEps { get; init; } = 1e-12f;
    public int PadTokenId { get; init; }
    public string PositionEmbeddingType { get; init; } = "absolute";
    public int CrossAttentionFrequency { get; init; } = 2;
    public int EncoderHiddenSize { get; init; } = 1408;
    public bool UseQformerTextInput { get; init; }
}

/// <summary>Top level of a BLIP-2 config.json (text_config is bound by its model_type: OPT or T5).</summary>
public sealed record Blip2Config
{
    public Blip2VisionConfig VisionConfig { get; init; } = new();
    [JsonPropertyName("qformer_config")]
    public Blip2QFormerConfig QFormerConfig { get; init; } = new();
    public int NumQueryTokens { get; init; } = 32;
    public int ImageTextHiddenSize { get; init; } = 256;
    public int? ImageTokenIndex { get; init; }
}

// ------------------------------------------------------------------------------------------------ vision tower

/// <summary>[class_embedding; patch_embedding(pixels)] + position_embedding (plain parameters, conv with bias).</summary>
public sealed class Blip2VisionEmbeddings
{
    private readonly Tensor _classEmbedding;     // (1, 1, Cv)
    private readonly Tensor _positionEmbedding;  // (1, P, Cv)
    private readonly PatchConv2d _patchEmbedding;

    public Blip2VisionEmbeddings(VarBuilder vb, IBackend backend, Blip2VisionConfig c)
    {
        _classEmbedding = vb.TensorF32(backend, "class_embedding", 1, 1, c.HiddenSize);
        _patchEmbedding = PatchConv2d.Load(vb.Sub("patch_embedding"), backend, 3, c.HiddenSize, c.PatchSize, bias: true);
        _positionEmbedding = vb.TensorF32(backend, "position_embedding", 1, c.NumPatches + 1, c.HiddenSize);
    }

    /// <summary>(B, 3, S, S) → (B, P, Cv)</summary>
    public Tensor Forward(Tensor pixels)
    {
        int b = pixels.Dim(0);
        using var patches = _patchEmbedding.Forward(pixels);                // (B, P-1, Cv)
        int c = patches.Dim(2);
        if (patches.Dim(1) + 1 != _positionEmbedding.Dim(1))
            throw new ArgumentException($"BLIP-2 vision: {pixels.Dim(2)}x{pixels.Dim(3)} pixels give {patches.Dim(1)} patches, the position embedding has {_positionEmbedding.Dim(1)} rows (patches + class token)");
        using var cls = _classEmbedding.Expand(b, 1, c);
        using var tokens = pixels.Backend.Concat([cls, patches], 1);        // (B, P, Cv)
        return tokens.Add(_positionEmbedding);
    }
}

/// <summary>Fused `qkv` + `projection`; bias of qkv = cat(q_bias, zeros, v_bias).</summary>
public sealed class Blip2Attention
{
    private readonly Linear _qkv, _projection;
    private readonly int _heads;
    private readonly float _scale;

    public Blip2Attention(VarBuilder vb, IBackend backend, Blip2VisionConfig c)
    {
        if (c.HiddenSize % c.NumAttentionHeads != 0)
            throw new ModelLoadException($"BLIP-2 vision attention at '{vb.Prefix}': hidden_size {c.HiddenSize} is not a multiple of num_attention_heads {c.NumAttentionHeads}");
        _heads = c.NumAttentionHeads;
        _scale = 1f / MathF.Sqrt(c.HiddenSize / c.NumAttentionHeads);
        int cv = c.HiddenSize;
        var weight = vb.Sub("qkv").Tensor(backend, "weight", 3 * cv, cv);
        Tensor? bias = null;
        if (vb.Sub("qkv").Contains("bias"))
            bias = vb.Sub("qkv").TensorF32(backend, "bias", 3 * cv);
        else if (c.QkvBias)
        {
            // Checkpoints converted before the fused bias: q_bias and v_bias, k has none.
            var q = vb.GetFloat32("q_bias", cv);
            var v = vb.GetFloat32("v_bias", cv);
            var all = new float[3 * cv];
            q.CopyTo(all, 0);
            v.CopyTo(all, 2 * cv);
            bias = backend.FromFloats(all, 3 * cv);
        }
        _qkv = new Linear(weight, bias);
        _projection = Linear.Load(vb.Sub("projection"), backend, cv, cv);
    }

    /// <summary>(B, P, Cv) → (B, P, Cv)</summary>
    public Tensor Forward(Tensor x)
    {
        int b = x.Dim(0), t = x.Dim(1), c = x.Dim(2), d = c / _heads;
        using var mixed = _qkv.Forward(x);                                  // (B, P, 3·Cv)
        using var split = mixed.Reshape(b, t, 3, _heads, d);                // (B, P, 3, H, D)
        using var q = split.Select(2, 0);                                   // (B, P, H, D) views
        using var k = split.Select(2, 1);
        using var v = split.Select(2, 2);
        using var a = x.Backend.Attention(q, k, v, AttentionMask.None, _scale);
        using var a2 = a.Reshape(b, t, c);
        return _projection.Forward(a2);
    }
}

/// <summary>`encoder.layers.{i}`: pre-LN, x + attn(layer_norm1(x)), then + mlp(layer_norm2(·)).</summary>
public sealed class Blip2EncoderLayer
{
    private readonly Blip2Attention _selfAttn;
    private readonly LayerNorm _layerNorm1, _layerNorm2;
    private readonly CLIPMLP _mlp;   // fc1 → act → fc2: the same module as CLIP's (BlipMLP)

    public Blip2EncoderLayer(VarBuilder vb, IBackend backend, Blip2VisionConfig c)
    {
        _selfAttn = new Blip2Attention(vb.Sub("self_attn"), backend, c);
        _layerNorm1 = LayerNorm.Load(vb.Sub("layer_norm1"), backend, c.HiddenSize, c.LayerNormEps);
        _mlp = new CLIPMLP(vb.Sub("mlp"), backend, c.HiddenSize, c.IntermediateSize, c.HiddenAct);
        _layerNorm2 = LayerNorm.Load(vb.Sub("layer_norm2"), backend, c.HiddenSize, c.LayerNormEps);
    }

    public Tensor Forward(Tensor x)
    {
        Tensor h;
        using (var n = _layerNorm1.Forward(x))
        using (var a = _selfAttn.Forward(n))
            h = x.Add(a);
        using (h)
        using (var n = _layerNorm2.Forward(h))
        using (var m = _mlp.Forward(n))
            return h.Add(m);
    }
}

/// <summary>`vision_model.*` (Blip2VisionModel): embeddings → encoder → post_layernorm; pooled =
/// post_layernorm(last_hidden_state[:, 0]) (post_layernorm twice on the class token).</summary>
public sealed class Blip2VisionModel
{
    private readonly Blip2VisionEmbeddings _embeddings;
    private readonly Blip2EncoderLayer[] _layers;
    private readonly LayerNorm _postLayernorm;

    public Blip2VisionModel(VarBuilder vb, IBackend backend, Blip2VisionConfig c)
    {
        Config = c;
        _embeddings = new Blip2VisionEmbeddings(vb.Sub("embeddings"), backend, c);
        _layers = new Blip2EncoderLayer[c.NumHiddenLayers];
        for (int i = 0; i < _layers.Length; i++)
            _layers[i] = new Blip2EncoderLayer(vb.Sub("encoder").Sub("layers").Sub(i), backend, c);
        _postLayernorm = LayerNorm.Load(vb.Sub("post_layernorm"), backend, c.HiddenSize, c.LayerNormEps);
    }

    public Blip2VisionConfig Config { get; }

    /// <summary>pixels (B, 3, S, S) → last_hidden_state (B, P, Cv) after post_layernorm, pooled (B, Cv); hidden_states:
    /// the embeddings, then every layer's output (no post_layernorm).</summary>
    public TowerOutput Forward(Tensor pixels, bool outputHiddenStates = false)
    {
        var hs = outputHiddenStates ? new List<Tensor>() : null;
        var h = _embeddings.Forward(pixels);
        foreach (var layer in _layers)
        {
            hs?.Add(h.Reshape(h.ShapeArray));
            var next = layer.Forward(h);
            h.Dispose();
            h = next;
        }
        hs?.Add(h.Reshape(h.ShapeArray));
        var last = _postLayernorm.Forward(h);
        h.Dispose();
        using var cls = last.Select(1, 0);                                  // (B, Cv)
        var pooled = _postLayernorm.Forward(cls);
        return new TowerOutput(last, pooled, hs);
    }
}

// ------------------------------------------------------------------------------------------------ Q-Former

/// <summary>`attention.attention.*` + `attention.output.*` (or `crossattention.*`): LN(x + dense(attn(x, kv))).</summary>
public sealed class Blip2QFormerAttention
{
    private readonly Linear _query, _key, _value, _dense;
    private readonly LayerNorm _layerNorm;
    private readonly int _heads;
    private readonly float _scale;

    public Blip2QFormerAttention(VarBuilder vb, IBackend backend, Blip2QFormerConfig c, bool isCrossAttention)
    {
        if (c.HiddenSize % c.NumAttentionHeads != 0)
            throw new ModelLoadException($"Q-Former attention at '{vb.Prefix}': hidden_size {c.HiddenSize} is not a multiple of num_attention_heads {c.NumAttentionHeads}");
        if (c.PositionEmbeddingType != "absolute")
            throw new ModelLoadException($"Q-Former at '{vb.Prefix}': position_embedding_type '{c.PositionEmbeddingType}' is not supported (only 'absolute')");
        _heads = c.NumAttentionHeads;
        _scale = 1f / MathF.Sqrt(c.HiddenSize / c.NumAttentionHeads);
        int kvIn = isCrossAttention ? c.EncoderHiddenSize : c.HiddenSize;
        var a = vb.Sub("attention");
        _query = Linear.Load(a.Sub("query"), backend, c.HiddenSize, c.HiddenSize);
        _key = Linear.Load(a.Sub("key"), backend, kvIn, c.HiddenSize);
        _value = Linear.Load(a.Sub("value"), backend, kvIn, c.HiddenSize);
        _dense = Linear.Load(vb.Sub("output").Sub("dense"), backend, c.HiddenSize, c.HiddenSize);
        _layerNorm = LayerNorm.Load(vb.Sub("output").Sub("LayerNorm"), backend, c.HiddenSize, c.LayerNormEps);
    }

    /// <summary>x (B, T, C) attends to kv (B, S, C or Cv) → (B, T, C).</summary>
    public Tensor Forward(Tensor x, Tensor kv, AttentionMask mask)
    {
        int b = x.Dim(0), t = x.Dim(1), s = kv.Dim(1), c = x.Dim(2), d = c / _heads;
        using var q0 = _query.Forward(x);
        using var k0 = _key.Forward(kv);
        using var v0 = _value.Forward(kv);
        using var q = q0.Reshape(b, t, _heads, d);                          // (B, T, H, D)
        using var k = k0.Reshape(b, s, _heads, d);                          // (B, S, H, D)
        using var v = v0.Reshape(b, s, _heads, d);
        using var a = x.Backend.Attention(q, k, v, mask, _scale);
        using var a2 = a.Reshape(b, t, c);
        using var o = _dense.Forward(a2);
        using var r = o.Add(x);
        return _layerNorm.Forward(r);
    }
}

/// <summary>BERT FFN: LN(x + output.dense(act(intermediate.dense(x)))) under the given prefixes.</summary>
public sealed class Blip2QFormerFeedForward
{
    private readonly Linear _intermediate, _output;
    private readonly LayerNorm _layerNorm;
    private readonly Activation _act;

    public Blip2QFormerFeedForward(VarBuilder intermediate, VarBuilder output, IBackend backend, Blip2QFormerConfig c)
    {
        _act = Activations.FromHf(c.HiddenAct);
        _intermediate = Linear.Load(intermediate.Sub("dense"), backend, c.HiddenSize, c.IntermediateSize);
        _output = Linear.Load(output.Sub("dense"), backend, c.IntermediateSize, c.HiddenSize);
        _layerNorm = LayerNorm.Load(output.Sub("LayerNorm"), backend, c.HiddenSize, c.LayerNormEps);
    }

    public Tensor Forward(Tensor x)
    {
        using var i0 = _intermediate.Forward(x);
        using var i1 = i0.Activate(_act);
        using var o = _output.Forward(i1);
        using var r = o.Add(x);
        return _layerNorm.Forward(r);
    }
}

/// <summary>`qformer.encoder.layer.{i}`.</summary>
public sealed class Blip2QFormerLayer
{
    private readonly Blip2QFormerAttention _attention;
    private readonly Blip2QFormerAttention? _crossattention;
    private readonly Blip2QFormerFeedForward _query;
    private readonly Blip2QFormerFeedForward? _text;

    public Blip2QFormerLayer(VarBuilder vb, IBackend backend, Blip2QFormerConfig c, int layerIdx)
    {
        _attention = new Blip2QFormerAttention(vb.Sub("attention"), backend, c, isCrossAttention: false);
        if (layerIdx % c.CrossAttentionFrequency == 0)
            _crossattention = new Blip2QFormerAttention(vb.Sub("crossattention"), backend, c, isCrossAttention: true);
        _query = new Blip2QFormerFeedForward(vb.Sub("intermediate_query"), vb.Sub("output_query"), backend, c);
        if (c.UseQformerTextInput)
            _text = new Blip2QFormerFeedForward(vb.Sub("intermediate"), vb.Sub("output"), backend, c);
    }

    /// <summary>h (B, T, C) whose first <paramref name="queryLength"/> positions are queries → (B, T, C).</summary>
    public Tensor Forward(Tensor h, AttentionMask selfMask, Tensor? image, int queryLength)
    {
        int t = h.Dim(1);
        using var attn = _attention.Forward(h, h, selfMask);
        if (queryLength == 0)
            return (_text ?? throw new InvalidOperationException("this Q-Former has no text FFN (use_qformer_text_input is false)")).Forward(attn);
        using var q0 = attn.Narrow(1, 0, queryLength);                      // (B, Q, C)
        Tensor queries;
        if (_crossattention is not null)
        {
            using var cross = _crossattention.Forward(q0, image ?? throw new ArgumentException("Q-Former cross-attention layers need the image features"), AttentionMask.None);
            queries = _query.Forward(cross);
        }
        else
        {
            queries = _query.Forward(q0);
        }
        if (t == queryLength) return queries;
        using (queries)
        using (var textIn = attn.Narrow(1, queryLength, t - queryLength))
        using (var text = (_text ?? throw new InvalidOperationException("this Q-Former has no text FFN (use_qformer_text_input is false)")).Forward(textIn))
            return h.Backend.Concat([queries, text], 1);
    }
}

/// <summary>`qformer.*` (Blip2QFormerModel): layernorm, encoder.layer.{i}.</summary>
public sealed class Blip2QFormerModel
{
    private readonly LayerNorm _layernorm;
    private readonly Blip2QFormerLayer[] _layers;

    public Blip2QFormerModel(VarBuilder vb, IBackend backend, Blip2QFormerConfig c)
    {
        Config = c;
        _layernorm = LayerNorm.Load(vb.Sub("layernorm"), backend, c.HiddenSize, c.LayerNormEps);
        _layers = new Blip2QFormerLayer[c.NumHiddenLayers];
        for (int i = 0; i < _layers.Length; i++)
            _layers[i] = new Blip2QFormerLayer(vb.Sub("encoder").Sub("layer").Sub(i), backend, c, i);
    }

    public Blip2QFormerConfig Config { get; }

    /// <summary>
    /// query_embeds (B, T, C) (queries, optionally followed by text embeddings) → last_hidden_state (B, T, C).
    /// <paramref name="attentionMask"/> (B, T) 1/0 or null; <paramref name="image"/> (B, P, Cv) for cross-attention;
    /// hidden_states: layernorm(query_embeds), then every layer's output.
    /// </summary>
    public Tensor Forward(Tensor queryEmbeds, int queryLength, Tensor? attentionMask, Tensor? image, List<Tensor>? hiddenStates = null)
    {
        var mask = attentionMask is null ? AttentionMask.None : new AttentionMask { KeyPadding = attentionMask };
        var h = _layernorm.Forward(queryEmbeds);
        foreach (var layer in _layers)
        {
            hiddenStates?.Add(h.Reshape(h.ShapeArray));
            var next = layer.Forward(h, mask, image, queryLength);
            h.Dispose();
            h = next;
        }
        hiddenStates?.Add(h.Reshape(h.ShapeArray));
        return h;
    }
}

/// <summary>What the image side of a BLIP-2 forward computed.</summary>
public sealed record Blip2QueryOutput(TowerOutput Vision, Tensor QFormerLastHiddenState, IReadOnlyList<Tensor>? QFormerHiddenStates) : IDisposable
{
    public void Dispose()
    {
        Vision.Dispose();
        QFormerLastHiddenState.Dispose();
        if (QFormerHiddenStates is not null) foreach (var h in QFormerHiddenStates) h.Dispose();
    }
}

/// <summary>The shared front end: vision_model, query_tokens, qformer.</summary>
public sealed class Blip2ImageQuerying
{
    private readonly Tensor _queryTokens;  // (1, Q, C)

    public Blip2ImageQuerying(VarBuilder vb, IBackend backend, Blip2Config c, Blip2QFormerConfig qformer)
    {
        VisionModel = new Blip2VisionModel(vb.Sub("vision_model"), backend, c.VisionConfig);
        _queryTokens = vb.TensorF32(backend, "query_tokens", 1, c.NumQueryTokens, qformer.HiddenSize);
        QFormer = new Blip2QFormerModel(vb.Sub("qformer"), backend, qformer);
    }

    public Blip2VisionModel VisionModel { get; }
    public Blip2QFormerModel QFormer { get; }
    public Tensor QueryTokens => _queryTokens;
    public int NumQueryTokens => _queryTokens.Dim(1);

    /// <summary>pixels (B, 3, S, S) → vision outputs and the Q-Former query outputs (B, Q, C).</summary>
    public Blip2QueryOutput Forward(Tensor pixels, bool outputHiddenStates = false)
    {
        var vision = VisionModel.Forward(pixels, outputHiddenStates);
        try
        {
            int b = pixels.Dim(0);
            using var q = _queryTokens.Expand(b, NumQueryTokens, _queryTokens.Dim(2));
            var hs = outputHiddenStates ? new List<Tensor>() : null;
            var last = QFormer.Forward(q, NumQueryTokens, null, vision.LastHiddenState, hs);
            return new Blip2QueryOutput(vision, last, hs);
        }
        catch
        {
            vision.Dispose();
            throw;
        }
    }

    /// <summary>Loads the config with Blip2Config's fix-up: qformer encoder_hidden_size = vision hidden_size.</summary>
    internal static (Blip2Config Config, Blip2QFormerConfig QFormer) BindConfig(HfConfig hf)
    {
        hf.ExpectModelType("blip-2", "BLIP-2");
        var c = hf.Bind<Blip2Config>();
        // Blip2Config.__init__: `self.qformer_config.encoder_hidden_size = self.vision_config.hidden_size`.
        return (c, c.QFormerConfig with { EncoderHiddenSize = c.VisionConfig.HiddenSize });
    }
}

// ------------------------------------------------------------------------------------------------ captioning

/// <summary>Outputs of a full (teacher-forced) Blip2ForConditionalGeneration forward.</summary>
public sealed record Blip2ForwardOutput(Blip2QueryOutput Query, Tensor LanguageProjection, Tensor Logits,
    IReadOnlyList<Tensor>? LanguageModelHiddenStates, T5Output? T5) : IDisposable
{
    public void Dispose()
    {
        Query.Dispose();
        LanguageProjection.Dispose();
        if (T5 is not null) T5.Dispose();
        else
        {
            Logits.Dispose();
            if (LanguageModelHiddenStates is not null) foreach (var h in LanguageModelHiddenStates) h.Dispose();
        }
    }
}

/// <summary>`Blip2ForConditionalGeneration`: vision + Q-Former + language_projection + OPT or T5.</summary>
public sealed class Blip2ForConditionalGeneration : IAutoregressiveModel, IDisposable
{
    private readonly SafetensorsCheckpoint? _checkpoint;
    private readonly Linear _languageProjection;

    public Blip2ForConditionalGeneration(VarBuilder vb, IBackend backend, Blip2Config c, Blip2QFormerConfig qformer,
        OPTConfig? opt, T5Config? t5, SafetensorsCheckpoint? owned = null)
    {
        if ((opt is null) == (t5 is null)) throw new ArgumentException("BLIP-2 needs exactly one language model config (OPT or T5)");
        _checkpoint = owned;
        Backend = backend;
        Config = c;
        Front = new Blip2ImageQuerying(vb, backend, c, qformer);
        var lm = vb.Sub("language_model");
        if (opt is not null) Opt = new OPTForCausalLM(opt, lm, backend);
        else T5 = new T5ForConditionalGeneration(t5!, lm, backend);
        _languageProjection = Linear.Load(vb.Sub("language_projection"), backend, qformer.HiddenSize, opt?.EmbedDim ?? t5!.DModel);
        GenerationDefaults = new GenerationDefaults([EosTokenId], PadTokenId);
    }

    /// <summary>eos / pad ids for generate(): generation_config.json when loaded from a folder that has one (e.g.
    /// blip2-opt-2.7b stops at "\n", id 50118), else the language model config's.</summary>
    public GenerationDefaults GenerationDefaults { get; set; }

    public Blip2Config Config { get; }
    public IBackend Backend { get; }
    public Blip2ImageQuerying Front { get; }
    public OPTForCausalLM? Opt { get; }
    public T5ForConditionalGeneration? T5 { get; }
    public bool IsEncoderDecoder => T5 is not null;
    public int VocabSize => Opt?.VocabSize ?? T5!.VocabSize;
    public int ImageSize => Config.VisionConfig.ImageSize;
    public int PadTokenId => Opt?.Config.PadTokenId ?? T5!.Config.PadTokenId;
    public int EosTokenId => Opt?.Config.EosTokenId ?? T5!.Config.EosTokenId;
    /// <summary>The first id of every generated sequence HF returns: OPT's bos (prepended by BLIP-2's generate) or T5's
    /// decoder_start_token_id.</summary>
    public int StartTokenId => Opt?.Config.BosTokenId ?? T5!.Config.DecoderStart;

    /// <summary>Loads config.json + weights (memory-mapped) of a BLIP-2 OPT or Flan-T5 checkpoint; every key must be used.</summary>
    public static Blip2ForConditionalGeneration Load(string directory, IBackend backend)
    {
        var hf = HfConfig.Load(directory);
        var (c, qformer) = Blip2ImageQuerying.BindConfig(hf);
        var textType = hf.Section("text_config").ModelType ?? "opt"; // Blip2Config defaults to OPT
        OPTConfig? opt = null;
        T5Config? t5 = null;
        if (textType == "opt") { opt = hf.Bind<OPTConfig>("text_config"); opt.Validate(hf.Source + "#text_config"); }
        else if (textType == "t5") { t5 = hf.Bind<T5Config>("text_config"); t5.Validate(hf.Source + "#text_config"); }
        else throw new ModelLoadException($"{hf.Source}: BLIP-2 text_config.model_type '{textType}' is not supported (opt, t5)");
        const string lm = "language_model.";
        return VarBuilder.Build(directory, (vb, ckpt) =>
            {
                var model = new Blip2ForConditionalGeneration(vb, backend, c, qformer, opt, t5, ckpt);
                model.GenerationDefaults = GenerationDefaults.Load(directory, [model.EosTokenId], model.PadTokenId);
                return model;
            },
            k => VarBuilder.IsPositionIdsBuffer(k)
                || (opt is not null && opt.TieWordEmbeddings && k == lm + "lm_head.weight")
                || (t5 is not null && k.StartsWith(lm, StringComparison.Ordinal) && T5ForConditionalGeneration.IsTiedCopy(k[lm.Length..], t5)));
    }

    /// <summary>language_projection(Q-Former query outputs) (B, Q, Ct).</summary>
    public Tensor ProjectQueries(Tensor qformerLastHiddenState) => _languageProjection.Forward(qformerLastHiddenState);

    private Tensor EmbedTokens(long[,] ids) => Opt is not null ? Opt.Embed(ids) : T5!.Embed(ids);

    /// <summary>
    /// The language model's inputs: token embeddings with the projected queries (B, Q, Ct) in place of the
    /// image_token_index tokens (row-major, as masked_scatter), or — when the config has no image_token_index —
    /// the queries concatenated before the text (OPT: after each row's left padding, which gives HF's numbers for
    /// every real token since positions come from the mask; T5: in front, exactly as HF). Returns embeds and mask.
    /// </summary>
    public (Tensor Embeds, long[,] Mask) MergeInputs(long[,] inputIds, long[,]? attentionMask, Tensor projectedQueries)
    {
        int b = inputIds.GetLength(0), t = inputIds.GetLength(1), q = projectedQueries.Dim(1), c = projectedQueries.Dim(2);
        if (projectedQueries.Dim(0) != b)
            throw new ArgumentException($"BLIP-2: {projectedQueries.Dim(0)} images for {b} prompts");
        var mask = attentionMask ?? PromptBatch.Ones(b, t);
        if (mask.GetLength(0) != b || mask.GetLength(1) != t)
            throw new ArgumentException($"attention_mask is ({mask.GetLength(0)}, {mask.GetLength(1)}) but input_ids is ({b}, {t})");
        if (Config.ImageTokenIndex is int image)
        {
            long count = 0;
            foreach (var id in inputIds) if (id == image) count++;
            if (count != (long)b * q)
                throw new ArgumentException($"BLIP-2: the prompts hold {count} image tokens (id {image}), the images give {b} x {q} query embeddings; each prompt must start with {q} image tokens");
            var ids = (long[,])inputIds.Clone();
            var slots = new List<int>[b];
            for (int r = 0; r < b; r++)
            {
                slots[r] = [];
                for (int j = 0; j < t; j++)
                    if (ids[r, j] == image) { slots[r].Add(j); ids[r, j] = PadTokenId; } // the image id may lie outside the LM vocabulary
            }
            var embeds = EmbedTokens(ids);
            Scatter(embeds, slots, projectedQueries);
            return (embeds, mask);
        }
        // No image_token_index: concatenate.
        var expanded = new long[b, t + q];
        var newMask = new long[b, t + q];
        var querySlots = new List<int>[b];
        for (int r = 0; r < b; r++)
        {
            int pad = 0;
            if (Opt is not null)
                while (pad < t && mask[r, pad] == 0) pad++;
            querySlots[r] = Enumerable.Range(pad, q).ToList();
            for (int j = 0, src = 0; j < t + q; j++)
            {
                if (j >= pad && j < pad + q) { expanded[r, j] = PadTokenId; newMask[r, j] = 1; continue; }
                expanded[r, j] = inputIds[r, src];
                newMask[r, j] = mask[r, src];
                src++;
            }
        }
        var e = EmbedTokens(expanded);
        Scatter(e, querySlots, projectedQueries);
        return (e, newMask);
    }

    private void Scatter(Tensor embeds, List<int>[] slots, Tensor queries)
    {
        int t = embeds.Dim(1), c = embeds.Dim(2);
        using var rows = embeds.Reshape(-1, c);                             // (B·T, Ct) view
        using var feats = queries.Reshape(-1, c);                           // (B·Q, Ct)
        int k = 0;
        for (int r = 0; r < slots.Length; r++)
            for (int i = 0; i < slots[r].Count;)
            {
                int run = 1;
                while (i + run < slots[r].Count && slots[r][i + run] == slots[r][i] + run) run++;
                using (var dst = rows.Narrow(0, r * t + slots[r][i], run))
                using (var src = feats.Narrow(0, k, run))
                    Backend.CopyInto(dst, src);
                k += run;
                i += run;
            }
    }

    /// <summary>
    /// HF's forward: <c>model(pixel_values, input_ids, attention_mask[, decoder_input_ids, decoder_attention_mask])</c>.
    /// OPT: logits over the whole merged sequence (B, T, V). T5: encoder on the merged sequence, decoder teacher-forced
    /// on <paramref name="decoderInputIds"/> → (B, Td, V).
    /// </summary>
    public Blip2ForwardOutput Forward(Tensor pixelValues, long[,] inputIds, long[,]? attentionMask = null,
        long[,]? decoderInputIds = null, long[,]? decoderAttentionMask = null, bool outputHiddenStates = false)
    {
        var query = Front.Forward(pixelValues, outputHiddenStates);
        Tensor? projected = null;
        try
        {
            projected = ProjectQueries(query.QFormerLastHiddenState);
            var (embeds, mask) = MergeInputs(inputIds, attentionMask, projected);
            using (embeds)
            {
                if (Opt is not null)
                {
                    var hs = outputHiddenStates ? new List<Tensor>() : null;
                    var logits = Opt.ForwardEmbeds(embeds, mask, hs);
                    return new Blip2ForwardOutput(query, projected, logits, hs, null);
                }
                if (decoderInputIds is null) throw new ArgumentException("BLIP-2 T5 forward needs decoder_input_ids");
                var o = T5!.ForwardEmbeds(embeds, mask, decoderInputIds, decoderAttentionMask, outputHiddenStates);
                return new Blip2ForwardOutput(query, projected, o.Logits, o.DecoderHiddenStates, o);
            }
        }
        catch
        {
            query.Dispose();
            projected?.Dispose();
            throw;
        }
    }

    /// <summary>generate()'s prefill: image queries merged into the prompt (B, T) (left padding only), then the
    /// language model's own prefill (OPT: the merged prompt; T5: encoder + decoder_start).</summary>
    public Prefilled Prefill(Tensor pixelValues, long[,] inputIds, long[,]? attentionMask, int maxNewTokens)
    {
        using var query = Front.Forward(pixelValues);
        using var projected = ProjectQueries(query.QFormerLastHiddenState);
        var (embeds, mask) = MergeInputs(inputIds, attentionMask, projected);
        using (embeds)
            return Opt is not null ? Opt.PrefillEmbeds(embeds, mask, maxNewTokens) : T5!.PrefillEmbeds(embeds, mask, maxNewTokens);
    }

    public Tensor DecodeStep(IDecoderState state, ReadOnlySpan<int> tokens) =>
        Opt is not null ? Opt.DecodeStep(state, tokens) : T5!.DecodeStep(state, tokens);

    /// <summary>Prefill + the shared generation loop (greedy, sampling or beams per <paramref name="options"/>). Each
    /// sequence holds the new tokens only; HF's `generate()` output is <see cref="StartTokenId"/> followed by them.</summary>
    public GenerationResult Generate(Tensor pixelValues, long[,] inputIds, long[,]? attentionMask, GenerationOptions options) =>
        Generator.Generate(this, Prefill(pixelValues, inputIds, attentionMask, options.MaxNewTokens), options);

    /// <summary>Greedy options with <see cref="GenerationDefaults"/>' eos and pad ids and the given token budget.</summary>
    public GenerationOptions DefaultOptions(int maxNewTokens) => GenerationDefaults.Options(maxNewTokens);

    /// <summary>
    /// The prompt ids Blip2Processor builds: num_query_tokens image tokens (when the config has image_token_index)
    /// followed by the tokenized prompt — OPT's tokenizer output starts with bos, T5's ends with eos. A null or empty
    /// prompt is the empty text: [bos] for OPT, [eos] for T5.
    /// </summary>
    public IReadOnlyList<int> BuildInputIds(IReadOnlyList<int>? promptIds)
    {
        var ids = new List<int>();
        if (Config.ImageTokenIndex is int image) ids.AddRange(Enumerable.Repeat(image, Config.NumQueryTokens));
        if (promptIds is null || promptIds.Count == 0) ids.Add(Opt is not null ? Opt.Config.BosTokenId : T5!.Config.EosTokenId);
        else ids.AddRange(promptIds);
        return ids;
    }

    /// <summary>
    /// Captions (or answers) for <paramref name="batch"/> preprocessed images (B, 3, S, S) row-major (BlipImageProcessor's
    /// pixel_values). <paramref name="promptIds"/>: null, or one tokenized prompt per image (e.g. "Question: … Answer:"
    /// through the model's tokenizer; null/empty entries caption). Returns the new tokens of each image (without the
    /// start token), stopping at eos.
    /// </summary>
    public IReadOnlyList<GeneratedSequence> Caption(float[] pixelValues, int batch, IReadOnlyList<IReadOnlyList<int>?>? promptIds = null,
        GenerationOptions? options = null)
    {
        int s = ImageSize;
        if (batch <= 0 || pixelValues.Length != (long)batch * 3 * s * s)
            throw new ArgumentException($"Caption: {pixelValues.Length} values is not {batch} images of 3x{s}x{s}");
        if (promptIds is not null && promptIds.Count != batch)
            throw new ArgumentException($"Caption: {promptIds.Count} prompts for {batch} images");
        var prompts = Enumerable.Range(0, batch).Select(i => BuildInputIds(promptIds?[i])).ToList();
        var (ids, mask) = PromptBatch.LeftPad(prompts, PadTokenId);
        using var px = Backend.FromFloats(pixelValues, batch, 3, s, s);
        return Generate(px, ids, mask, options ?? DefaultOptions(30)).Sequences;
    }

    public void Dispose() => _checkpoint?.Dispose();
}
