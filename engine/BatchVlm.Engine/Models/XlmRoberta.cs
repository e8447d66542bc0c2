// XLM-RoBERTa encoder (BERT-style post-LN transformer): the text tower of AltCLIP (`text_model.roberta.*`, no
// pooler). Follows transformers 4.46.1 src/transformers/models/xlm_roberta/modeling_xlm_roberta.py and
// models/altclip/modeling_altclip.py (AltRoberta*, eager attention). Quirks, each once below: position ids come from
// the padding index, `padding_idx + cumsum(ids != pad) * (ids != pad)`, so real tokens start at padding_idx + 1 and
// pads sit at padding_idx (create_position_ids_from_input_ids); token_type_ids default to zeros (row 0 is added to
// every token); the embedding sum is layer-normed; every sublayer is post-LN: LayerNorm(x + sublayer(x)).
//
// Dimension letters: B batch, T tokens, C hidden, H heads, D head dim, F intermediate.
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Nn;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Models;

/// <summary>The encoder's hyper-parameters (the keys XLMRobertaConfig and AltCLIPTextConfig share; each parent binds
/// its own defaults and hands them over).</summary>
public sealed record XLMRobertaConfig
{
    public int VocabSize { get; init; } = 250002;
    public int HiddenSize { get; init; } = 768;
    public int NumHiddenLayers { get; init; } = 12;
    public int NumAttentionHeads { get; init; } = 12;
    public int IntermediateSize { get; init; } = 3072;
    public string HiddenAct { get; init; } = "gelu";
    public int MaxPositionEmbeddings { get; init; } = 514;
    public int TypeVocabSize { get; init; } = 1;
    public float LayerNormEps { get; init; } = 1e-5f;
    public int PadTokenId { get; init; } = 1;
    public string PositionEmbeddingType { get; init; } = "absolute";
}

/// <summary>word + position (from padding_idx) + token_type embeddings → LayerNorm.</summary>
public sealed class XLMRobertaEmbeddings
{
    private readonly Embedding _wordEmbeddings, _positionEmbeddings, _tokenTypeEmbeddings;
    private readonly LayerNorm _layerNorm;
    private readonly int _paddingIdx;

    public XLMRobertaEmbeddings(VarBuilder vb, IBackend backend, XLMRobertaConfig c)
    {
        if (c.PositionEmbeddingType != "absolute")
            throw new ModelLoadException($"XLM-R at '{vb.Prefix}': position_embedding_type '{c.PositionEmbeddingType}' is not supported (only 'absolute')");
        _paddingIdx = c.PadTokenId;
        _wordEmbeddings = Embedding.Load(vb.Sub("word_embeddings"), backend, c.VocabSize, c.HiddenSize);
        _positionEmbeddings = Embedding.Load(vb.Sub("position_embeddings"), backend, c.MaxPositionEmbeddings, c.HiddenSize);
        _tokenTypeEmbeddings = Embedding.Load(vb.Sub("token_type_embeddings"), backend, c.TypeVocabSize, c.HiddenSize);
        _layerNorm = LayerNorm.Load(vb.Sub("LayerNorm"), backend, c.HiddenSize, c.LayerNormEps);
    }

    /// <summary>RoBERTa's position ids: padding_idx + running count of real tokens, pads at padding_idx.
    /// https://github.com/huggingface/transformers/blob/v4.46.1/src/transformers/models/xlm_roberta/modeling_xlm_roberta.py#L1591</summary>
    public long[] PositionIds(long[] ids, int batch, int tokens)
    {
        var pos = new long[ids.Length];
        for (int b = 0; b < batch; b++)
        {
            long count = 0;
            for (int j = 0; j < tokens; j++)
            {
                bool real = ids[b * tokens + j] != _paddingIdx;
                if (real) count++;
                pos[b * tokens + j] = _paddingIdx + (real ? count : 0);
            }
        }
        return pos;
    }

    /// <summary>ids (B, T) → (B, T, C)</summary>
    public Tensor Forward(Tensor ids)
    {
        int b = ids.Dim(0), t = ids.Dim(1);
        var pos = PositionIds(ids.ToInt64Array(), b, t);
        long maxPos = pos.Length == 0 ? 0 : pos.Max();
        if (maxPos >= _positionEmbeddings.NumEmbeddings)
            throw new ArgumentException($"XLM-R text: {t} tokens need position {maxPos}, max_position_embeddings is {_positionEmbeddings.NumEmbeddings}");
        using var posIds = ids.Backend.FromInt64(pos, b, t);
        using var words = _wordEmbeddings.Forward(ids);                    // (B, T, C)
        using var positions = _positionEmbeddings.Forward(posIds);          // (B, T, C)
        using var tokenType = _tokenTypeEmbeddings.Weight.Narrow(0, 0, 1);  // (1, C): token_type_ids = 0
        using var s1 = words.Add(tokenType);
        using var s2 = s1.Add(positions);
        return _layerNorm.Forward(s2);
    }
}

/// <summary>`attention.self.{query,key,value}` + `attention.output.{dense,LayerNorm}`: LN(x + dense(attn(x))).</summary>
public sealed class XLMRobertaAttention
{
    private readonly Linear _query, _key, _value, _dense;
    private readonly LayerNorm _layerNorm;
    private readonly int _heads;
    private readonly float _scale;

    public XLMRobertaAttention(VarBuilder vb, IBackend backend, XLMRobertaConfig c)
    {
        if (c.HiddenSize % c.NumAttentionHeads != 0)
            throw new ModelLoadException($"XLM-R attention at '{vb.Prefix}': hidden_size {c.HiddenSize} is not a multiple of num_attention_heads {c.NumAttentionHeads}");
        _heads = c.NumAttentionHeads;
        _scale = 1f / MathF.Sqrt(c.HiddenSize / c.NumAttentionHeads);   // scores / sqrt(head_size)
        var self = vb.Sub("self");
        _query = Linear.Load(self.Sub("query"), backend, c.HiddenSize, c.HiddenSize);
        _key = Linear.Load(self.Sub("key"), backend, c.HiddenSize, c.HiddenSize);
        _value = Linear.Load(self.Sub("value"), backend, c.HiddenSize, c.HiddenSize);
        _dense = Linear.Load(vb.Sub("output").Sub("dense"), backend, c.HiddenSize, c.HiddenSize);
        _layerNorm = LayerNorm.Load(vb.Sub("output").Sub("LayerNorm"), backend, c.HiddenSize, c.LayerNormEps);
    }

    /// <summary>(B, T, C) → (B, T, C)</summary>
    public Tensor Forward(Tensor x, AttentionMask mask)
    {
        int b = x.Dim(0), t = x.Dim(1), c = x.Dim(2), d = c / _heads;
        using var q0 = _query.Forward(x);
        using var k0 = _key.Forward(x);
        using var v0 = _value.Forward(x);
        using var q = q0.Reshape(b, t, _heads, d);                          // (B, T, H, D)
        using var k = k0.Reshape(b, t, _heads, d);
        using var v = v0.Reshape(b, t, _heads, d);
        using var a = x.Backend.Attention(q, k, v, mask, _scale);
        using var a2 = a.Reshape(b, t, c);
        using var o = _dense.Forward(a2);
        using var r = o.Add(x);
        return _layerNorm.Forward(r);
    }
}

/// <summary>`encoder.layer.{i}`: attention, then LN(h + output.dense(act(intermediate.dense(h)))).</summary>
public sealed class XLMRobertaLayer
{
    private readonly XLMRobertaAttention _attention;
    private readonly Linear _intermediateDense, _outputDense;
    private readonly LayerNorm _outputLayerNorm;
    private readonly Activation _act;

    public XLMRobertaLayer(VarBuilder vb, IBackend backend, XLMRobertaConfig c)
    {
        _act = Activations.FromHf(c.HiddenAct);
        _attention = new XLMRobertaAttention(vb.Sub("attention"), backend, c);
        _intermediateDense = Linear.Load(vb.Sub("intermediate").Sub("dense"), backend, c.HiddenSize, c.IntermediateSize);
        _outputDense = Linear.Load(vb.Sub("output").Sub("dense"), backend, c.IntermediateSize, c.HiddenSize);
        _outputLayerNorm = LayerNorm.Load(vb.Sub("output").Sub("LayerNorm"), backend, c.HiddenSize, c.LayerNormEps);
    }

    /// <summary>(B, T, C) → (B, T, C)</summary>
    public Tensor Forward(Tensor x, AttentionMask mask)
    {
        using var h = _attention.Forward(x, mask);
        using var i0 = _intermediateDense.Forward(h);                       // (B, T, F)
        using var i1 = i0.Activate(_act);
        using var o = _outputDense.Forward(i1);
        using var r = o.Add(h);
        return _outputLayerNorm.Forward(r);
    }
}

/// <summary>`roberta.*` without pooler: embeddings → encoder.layer.{i}. Padding keys are masked (HF's float-min
/// additive mask), no causal mask.</summary>
public sealed class XLMRobertaModel
{
    private readonly XLMRobertaEmbeddings _embeddings;
    private readonly XLMRobertaLayer[] _layers;

    public XLMRobertaModel(VarBuilder vb, IBackend backend, XLMRobertaConfig c)
    {
        Config = c;
        _embeddings = new XLMRobertaEmbeddings(vb.Sub("embeddings"), backend, c);
        _layers = new XLMRobertaLayer[c.NumHiddenLayers];
        for (int i = 0; i < _layers.Length; i++)
            _layers[i] = new XLMRobertaLayer(vb.Sub("encoder").Sub("layer").Sub(i), backend, c);
    }

    public XLMRobertaConfig Config { get; }
    public XLMRobertaEmbeddings Embeddings => _embeddings;

    /// <summary>ids (B, T), mask (B, T) 1/0 or null → last_hidden_state (B, T, C). hidden_states, when asked:
    /// the embedding output, then the output of every layer (the caller disposes them).</summary>
    public Tensor Forward(Tensor ids, Tensor? attentionMask, List<Tensor>? hiddenStates = null)
    {
        var mask = attentionMask is null ? AttentionMask.None : new AttentionMask { KeyPadding = attentionMask };
        var h = _embeddings.Forward(ids);
        foreach (var layer in _layers)
        {
            hiddenStates?.Add(h.Reshape(h.ShapeArray));
            var next = layer.Forward(h, mask);
            h.Dispose();
            h = next;
        }
        hiddenStates?.Add(h.Reshape(h.ShapeArray));
        return h;
    }
}
