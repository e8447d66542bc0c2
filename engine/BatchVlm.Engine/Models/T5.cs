// T5 encoder-decoder (`T5ForConditionalGeneration`, model_type "t5"): t5-*, google/flan-t5-* and the language model
// of BLIP-2 Flan-T5 checkpoints (Salesforce/blip2-flan-t5-xl, keys `language_model.*`). Follows transformers 4.46.1
// src/transformers/models/t5/modeling_t5.py. T5's quirks, each once below:
//  - T5LayerNorm is an RMS norm without mean subtraction and without bias, `w · x / sqrt(mean(x²) + eps)` (the
//    engine's plain RmsNorm);
//  - attention scores are NOT scaled by 1/sqrt(d_kv) (T5 folds it into q's initialisation);
//  - a learned relative position bias (relative_attention_bias, buckets × heads) lives in block 0 of each stack and
//    is added to the scores of every layer of that stack; buckets are bidirectional in the encoder (half the buckets
//    per sign) and causal in the decoder, exact below num_buckets/2 (or /4) and logarithmic up to max_distance;
//    cross-attention has no position bias;
//  - `feed_forward_proj` "gated-gelu" (Flan-T5): wo(gelu_new(wi_0 x) · wi_1 x) with gelu_new = the tanh
//    approximation; "relu" (original T5): wo(relu(wi x));
//  - the LM head multiplies the decoder output by d_model^-0.5 only when tie_word_embeddings (Flan-T5 is untied).
// Generation: the encoder runs once in the prefill together with the first decoder step (decoder_start_token_id);
// the state keeps the decoder's self-attention KV cache, the cross-attention keys/values of every layer (computed
// once from the encoder output) and the encoder padding mask, all reordered together for beam search.
//
// Dimension letters: B batch, S encoder tokens, T decoder tokens of this call, L decoder keys (cached + new),
// C d_model, H heads, D d_kv, F d_ff, V vocabulary.
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Nn;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Models;

/// <summary>config.json of a T5 model (text_config of BLIP-2 T5); initializers are T5Config's defaults in
/// transformers 4.46.1 (configuration_t5.py).</summary>
public sealed record T5Config
{
    public int VocabSize { get; init; } = 32128;
    public int DModel { get; init; } = 512;
    public int DKv { get; init; } = 64;
    public int DFf { get; init; } = 2048;
    public int NumLayers { get; init; } = 6;
    /// <summary>null → num_layers.</summary>
    public int? NumDecoderLayers { get; init; }
    public int NumHeads { get; init; } = 8;
    public int RelativeAttentionNumBuckets { get; init; } = 32;
    public int RelativeAttentionMaxDistance { get; init; } = 128;
    public float LayerNormEpsilon { get; init; } = 1e-6f;
    public string FeedForwardProj { get; init; } = "relu";
    /// <summary>Derived from feed_forward_proj by T5Config when absent (gated-gelu → gelu_new).</summary>
    public string? DenseActFn { get; init; }
    public bool? IsGatedAct { get; init; }
    public bool TieWordEmbeddings { get; init; } = true;
    public int PadTokenId { get; init; }
    public int EosTokenId { get; init; } = 1;
    /// <summary>null → pad_token_id (what T5 checkpoints use).</summary>
    public int? DecoderStartTokenId { get; init; }

    public int DecoderLayers => NumDecoderLayers ?? NumLayers;
    public int DecoderStart => DecoderStartTokenId ?? PadTokenId;

    /// <summary>T5Config.__init__: act = last part of feed_forward_proj, gated when it starts with "gated";
    /// "gated-gelu" means gelu_new for backwards compatibility.</summary>
    public (string Act, bool Gated) FeedForward()
    {
        var parts = FeedForwardProj.Split('-');
        if ((parts.Length > 1 && parts[0] != "gated") || parts.Length > 2)
            throw new ModelLoadException($"T5 feed_forward_proj '{FeedForwardProj}' is not a valid activation (expected 'ACT' or 'gated-ACT')");
        string act = DenseActFn ?? (FeedForwardProj == "gated-gelu" ? "gelu_new" : parts[^1]);
        return (act, IsGatedAct ?? parts[0] == "gated");
    }

    public void Validate(string source)
    {
        if (VocabSize <= 0 || DModel <= 0 || DKv <= 0 || DFf <= 0 || NumLayers <= 0 || DecoderLayers <= 0 || NumHeads <= 0)
            throw new ModelLoadException($"Invalid T5 config {source}: sizes must be positive");
        if (RelativeAttentionNumBuckets < 4 || RelativeAttentionMaxDistance <= RelativeAttentionNumBuckets / 4)
            throw new ModelLoadException($"Invalid T5 config {source}: relative_attention_num_buckets {RelativeAttentionNumBuckets} / max_distance {RelativeAttentionMaxDistance}");
        FeedForward();
    }
}

/// <summary>q, k, v, o (no biases) and, in block 0, relative_attention_bias (buckets, H).</summary>
public sealed class T5Attention
{
    private readonly Linear _q, _k, _v, _o;
    private readonly Embedding? _relativeAttentionBias;
    private readonly T5Config _c;
    private readonly bool _bidirectional;

    public T5Attention(T5Config c, VarBuilder vb, IBackend backend, bool hasRelativeAttentionBias, bool bidirectional)
    {
        _c = c;
        _bidirectional = bidirectional;
        int inner = c.NumHeads * c.DKv;
        _q = Linear.Load(vb.Sub("q"), backend, c.DModel, inner, bias: false);
        _k = Linear.Load(vb.Sub("k"), backend, c.DModel, inner, bias: false);
        _v = Linear.Load(vb.Sub("v"), backend, c.DModel, inner, bias: false);
        _o = Linear.Load(vb.Sub("o"), backend, inner, c.DModel, bias: false);
        if (hasRelativeAttentionBias)
            _relativeAttentionBias = Embedding.Load(vb.Sub("relative_attention_bias"), backend, c.RelativeAttentionNumBuckets, c.NumHeads);
    }

    /// <summary>T5Attention._relative_position_bucket, with torch's f32 arithmetic for the logarithmic range
    /// (log in f32, divided by the f64 constant rounded to f32, truncated toward zero).
    /// https://github.com/huggingface/transformers/blob/v4.46.1/src/transformers/models/t5/modeling_t5.py#L390</summary>
    public static int RelativePositionBucket(int relativePosition, bool bidirectional, int numBuckets, int maxDistance)
    {
        int bucket = 0;
        int n = relativePosition;
        if (bidirectional)
        {
            numBuckets /= 2;
            if (n > 0) bucket += numBuckets;
            n = Math.Abs(n);
        }
        else
        {
            n = -Math.Min(n, 0);
        }
        int maxExact = numBuckets / 2;
        if (n < maxExact) return bucket + n;
        float logRatio = MathF.Log((float)n / maxExact) / (float)Math.Log((double)maxDistance / maxExact);
        int large = maxExact + (int)(logRatio * (numBuckets - maxExact));
        return bucket + Math.Min(large, numBuckets - 1);
    }

    /// <summary>Position bias (1, H, Tq, Tk) for queries at positions queryOffset.. and keys 0..Tk-1.</summary>
    public Tensor ComputeBias(IBackend backend, int tq, int tk, int queryOffset)
    {
        var table = _relativeAttentionBias ?? throw new InvalidOperationException("this attention layer has no relative_attention_bias");
        var buckets = new long[tq * tk];
        for (int i = 0; i < tq; i++)
            for (int j = 0; j < tk; j++)
                buckets[i * tk + j] = RelativePositionBucket(j - (queryOffset + i), _bidirectional, _c.RelativeAttentionNumBuckets, _c.RelativeAttentionMaxDistance);
        using var ids = backend.FromInt64(buckets, tq, tk);
        using var values = table.Forward(ids);                              // (Tq, Tk, H)
        using var perm = values.Permute(2, 0, 1);                           // (H, Tq, Tk)
        using var c = perm.Contiguous();
        return c.Reshape(1, _c.NumHeads, tq, tk);
    }

    /// <summary>(B, T, C) → (B, T, H, D) projection of this layer's keys or values, for caching.</summary>
    public (Tensor K, Tensor V) KeyValues(Tensor source)
    {
        int b = source.Dim(0), s = source.Dim(1);
        using var k0 = _k.Forward(source);
        using var v0 = _v.Forward(source);
        return (k0.Reshape(b, s, _c.NumHeads, _c.DKv), v0.Reshape(b, s, _c.NumHeads, _c.DKv));
    }

    /// <summary>Self-attention: x (B, T, C) → (B, T, C). With a cache, k/v are appended and attention reads all L.</summary>
    public Tensor SelfAttention(Tensor x, AttentionMask mask, KvCache? cache, int layer)
    {
        var (k, v) = KeyValues(x);
        Tensor keys = k, values = v;
        try
        {
            if (cache is not null) (keys, values) = cache.Append(layer, k, v);
            return Attend(x, keys, values, mask);
        }
        finally
        {
            k.Dispose(); v.Dispose();
            if (cache is not null) { keys.Dispose(); values.Dispose(); }
        }
    }

    /// <summary>q from x (B, T, C) against ready keys/values (B, L, H, D), no scaling → (B, T, C).</summary>
    public Tensor Attend(Tensor x, Tensor keys, Tensor values, AttentionMask mask)
    {
        int b = x.Dim(0), t = x.Dim(1);
        using var q0 = _q.Forward(x);
        using var q = q0.Reshape(b, t, _c.NumHeads, _c.DKv);               // (B, T, H, D)
        using var a = x.Backend.Attention(q, keys, values, mask, 1f);       // T5: no 1/sqrt(d_kv)
        using var a2 = a.Reshape(b, t, _c.NumHeads * _c.DKv);
        return _o.Forward(a2);
    }
}

/// <summary>`layer.N.DenseReluDense` + `layer.N.layer_norm`: x + ff(rms(x)).</summary>
public sealed class T5LayerFF
{
    private readonly RmsNorm _layerNorm;
    private readonly Linear? _wi, _wi0, _wi1;
    private readonly Linear _wo;
    private readonly Activation _act;

    public T5LayerFF(T5Config c, VarBuilder vb, IBackend backend)
    {
        var (act, gated) = c.FeedForward();
        _act = Activations.FromHf(act);
        var d = vb.Sub("DenseReluDense");
        if (gated)
        {
            _wi0 = Linear.Load(d.Sub("wi_0"), backend, c.DModel, c.DFf, bias: false);
            _wi1 = Linear.Load(d.Sub("wi_1"), backend, c.DModel, c.DFf, bias: false);
        }
        else
        {
            _wi = Linear.Load(d.Sub("wi"), backend, c.DModel, c.DFf, bias: false);
        }
        _wo = Linear.Load(d.Sub("wo"), backend, c.DFf, c.DModel, bias: false);
        _layerNorm = RmsNorm.Load(vb.Sub("layer_norm"), backend, c.DModel, c.LayerNormEpsilon);
    }

    /// <summary>(B, T, C) → (B, T, C)</summary>
    public Tensor Forward(Tensor x)
    {
        using var n = _layerNorm.Forward(x);
        Tensor h;
        if (_wi is not null)
        {
            using var a = _wi.Forward(n);                                   // (B, T, F)
            h = a.Activate(_act);
        }
        else
        {
            using var g = _wi0!.Forward(n);
            using var ga = g.Activate(_act);
            using var l = _wi1!.Forward(n);
            h = ga.Mul(l);
        }
        using (h)
        using (var o = _wo.Forward(h))
            return x.Add(o);
    }
}

/// <summary>`block.{i}`: layer.0 SelfAttention, (decoder) layer.1 EncDecAttention, then the FF layer; pre-RMS-norm
/// residual sublayers.</summary>
public sealed class T5Block
{
    private readonly T5Attention _selfAttention;
    private readonly RmsNorm _selfNorm;
    private readonly T5Attention? _encDecAttention;
    private readonly RmsNorm? _crossNorm;
    private readonly T5LayerFF _ff;

    public T5Block(T5Config c, VarBuilder vb, IBackend backend, bool isDecoder, bool hasRelativeAttentionBias)
    {
        var l0 = vb.Sub("layer").Sub(0);
        _selfAttention = new T5Attention(c, l0.Sub("SelfAttention"), backend, hasRelativeAttentionBias, bidirectional: !isDecoder);
        _selfNorm = RmsNorm.Load(l0.Sub("layer_norm"), backend, c.DModel, c.LayerNormEpsilon);
        if (isDecoder)
        {
            var l1 = vb.Sub("layer").Sub(1);
            _encDecAttention = new T5Attention(c, l1.Sub("EncDecAttention"), backend, false, bidirectional: true);
            _crossNorm = RmsNorm.Load(l1.Sub("layer_norm"), backend, c.DModel, c.LayerNormEpsilon);
        }
        _ff = new T5LayerFF(c, vb.Sub("layer").Sub(isDecoder ? 2 : 1), backend);
    }

    public T5Attention SelfAttentionModule => _selfAttention;
    public T5Attention? EncDecAttention => _encDecAttention;

    /// <summary>(B, T, C) → (B, T, C). <paramref name="crossKv"/>: this layer's cross keys/values (B, S, H, D).</summary>
    public Tensor Forward(Tensor x, AttentionMask selfMask, KvCache? cache, int layer, (Tensor K, Tensor V)? crossKv, AttentionMask? crossMask)
    {
        Tensor h;
        using (var n = _selfNorm.Forward(x))
        using (var a = _selfAttention.SelfAttention(n, selfMask, cache, layer))
            h = x.Add(a);
        if (_encDecAttention is not null)
        {
            var (k, v) = crossKv ?? throw new ArgumentException("T5 decoder block needs the encoder's keys/values");
            Tensor h2;
            using (h)
            using (var n = _crossNorm!.Forward(h))
            using (var a = _encDecAttention.Attend(n, k, v, crossMask!))
                h2 = h.Add(a);
            h = h2;
        }
        using (h) return _ff.Forward(h);
    }
}

/// <summary>`encoder.*` / `decoder.*`: block.{i} (block 0 owns the position bias), final_layer_norm.</summary>
public sealed class T5Stack
{
    private readonly T5Block[] _blocks;
    private readonly RmsNorm _finalLayerNorm;

    public T5Stack(T5Config c, VarBuilder vb, IBackend backend, bool isDecoder)
    {
        IsDecoder = isDecoder;
        _blocks = new T5Block[isDecoder ? c.DecoderLayers : c.NumLayers];
        for (int i = 0; i < _blocks.Length; i++)
            _blocks[i] = new T5Block(c, vb.Sub("block").Sub(i), backend, isDecoder, hasRelativeAttentionBias: i == 0);
        _finalLayerNorm = RmsNorm.Load(vb.Sub("final_layer_norm"), backend, c.DModel, c.LayerNormEpsilon);
    }

    public bool IsDecoder { get; }
    public int Layers => _blocks.Length;

    /// <summary>Cross-attention keys/values of every decoder layer from the encoder output (B, S, C).</summary>
    public (Tensor K, Tensor V)[] CrossKeyValues(Tensor encoderHidden) =>
        _blocks.Select(b => b.EncDecAttention!.KeyValues(encoderHidden)).ToArray();

    /// <summary>
    /// inputs_embeds (B, T, C) → final-normed hidden states (B, T, C). Encoder: bidirectional, key padding from
    /// <paramref name="keyPadding"/>. Decoder: causal from <paramref name="queryOffset"/> (positions already cached),
    /// self keys padded by <paramref name="keyPadding"/>, cross-attending to <paramref name="crossKv"/> with
    /// <paramref name="crossPadding"/>. hidden_states: the input of every layer, then the final-normed output.
    /// </summary>
    public Tensor Forward(Tensor inputsEmbeds, Tensor? keyPadding, KvCache? cache, int queryOffset,
        (Tensor K, Tensor V)[]? crossKv, Tensor? crossPadding, List<Tensor>? hiddenStates)
    {
        var be = inputsEmbeds.Backend;
        int t = inputsEmbeds.Dim(1), keys = queryOffset + t;
        // HF computes the bias in block 0 and hands it (plus the mask) to every block.
        using var bias = _blocks[0].SelfAttentionModule.ComputeBias(be, t, keys, queryOffset); // (1, H, T, L)
        var selfMask = new AttentionMask { Causal = IsDecoder, KeyPadding = keyPadding, Additive = bias, QueryOffset = queryOffset };
        var crossMask = IsDecoder ? new AttentionMask { KeyPadding = crossPadding } : null;
        var h = inputsEmbeds.Reshape(inputsEmbeds.ShapeArray);
        for (int i = 0; i < _blocks.Length; i++)
        {
            hiddenStates?.Add(h.Reshape(h.ShapeArray));
            var next = _blocks[i].Forward(h, selfMask, cache, i, crossKv?[i], crossMask);
            h.Dispose();
            h = next;
        }
        var normed = _finalLayerNorm.Forward(h);
        h.Dispose();
        hiddenStates?.Add(normed.Reshape(normed.ShapeArray));
        return normed;
    }
}

/// <summary>Everything a teacher-forced forward computed.</summary>
public sealed record T5Output(Tensor Logits, Tensor EncoderLastHiddenState, IReadOnlyList<Tensor>? EncoderHiddenStates,
    IReadOnlyList<Tensor>? DecoderHiddenStates) : IDisposable
{
    public void Dispose()
    {
        Logits.Dispose();
        EncoderLastHiddenState.Dispose();
        if (EncoderHiddenStates is not null) foreach (var h in EncoderHiddenStates) h.Dispose();
        if (DecoderHiddenStates is not null) foreach (var h in DecoderHiddenStates) h.Dispose();
    }
}

/// <summary>Decoder state of a T5 batch between generation steps: self-attention KV cache, per-layer cross
/// keys/values (B, S, H, D), the encoder padding mask per row, and the decoder position (same for every row: the
/// decoder input is never padded during generation).</summary>
public sealed class T5DecoderState : IDecoderState
{
    private (Tensor K, Tensor V)[] _cross;
    private long[][] _encoderMask;

    internal T5DecoderState(KvCache cache, (Tensor K, Tensor V)[] cross, long[,] encoderMask)
    {
        Cache = cache;
        _cross = cross;
        int b = encoderMask.GetLength(0), s = encoderMask.GetLength(1);
        _encoderMask = new long[b][];
        for (int r = 0; r < b; r++)
        {
            _encoderMask[r] = new long[s];
            for (int j = 0; j < s; j++) _encoderMask[r][j] = encoderMask[r, j] != 0 ? 1 : 0;
        }
    }

    public KvCache Cache { get; }
    public int BatchSize => _encoderMask.Length;
    internal (Tensor K, Tensor V)[] Cross => _cross;
    /// <summary>Decoder tokens seen so far (the next token's position).</summary>
    public int Position => Cache.Length;

    public void SelectRows(ReadOnlySpan<int> sourceRows)
    {
        foreach (var r in sourceRows)
            if ((uint)r >= (uint)BatchSize)
                throw new ArgumentOutOfRangeException(nameof(sourceRows), $"row {r} of a state holding {BatchSize} rows");
        Cache.SelectRows(sourceRows);
        var rows = sourceRows.ToArray();
        for (int l = 0; l < _cross.Length; l++)
            _cross[l] = (Gather(_cross[l].K, rows), Gather(_cross[l].V, rows));
        _encoderMask = rows.Select(r => _encoderMask[r]).ToArray();
    }

    private static Tensor Gather(Tensor old, int[] rows)
    {
        var parts = rows.Select(r => old.Narrow(0, r, 1)).ToList();
        var fresh = old.Backend.Concat(parts, 0);
        foreach (var p in parts) p.Dispose();
        old.Dispose();
        return fresh;
    }

    /// <summary>(B, S) encoder key padding, or null when nothing is padded.</summary>
    internal long[]? EncoderPadding()
    {
        if (_encoderMask.All(row => row.All(v => v != 0))) return null;
        return _encoderMask.SelectMany(r => r).ToArray();
    }

    public void Dispose()
    {
        Cache.Dispose();
        foreach (var (k, v) in _cross) { k.Dispose(); v.Dispose(); }
    }
}

/// <summary>`shared`, `encoder.*`, `decoder.*`, `lm_head` (tied to shared when tie_word_embeddings).</summary>
public sealed class T5ForConditionalGeneration : IAutoregressiveModel, IDisposable
{
    private readonly SafetensorsCheckpoint? _checkpoint;
    private readonly Tensor _lmHead;  // (V, C)
    private readonly float _outputScale;

    /// <param name="vb">scope holding `shared.`, `encoder.`, `decoder.`, `lm_head.`</param>
    /// <param name="owned">the checkpoint to release on Dispose when this model loaded it (null inside BLIP-2, which owns it)</param>
    public T5ForConditionalGeneration(T5Config config, VarBuilder vb, IBackend backend, SafetensorsCheckpoint? owned = null)
    {
        _checkpoint = owned;
        Config = config;
        Backend = backend;
        Shared = Embedding.Load(vb.Sub("shared"), backend, config.VocabSize, config.DModel);
        Encoder = new T5Stack(config, vb.Sub("encoder"), backend, isDecoder: false);
        Decoder = new T5Stack(config, vb.Sub("decoder"), backend, isDecoder: true);
        _lmHead = config.TieWordEmbeddings ? Shared.Weight : vb.Tensor(backend, "lm_head.weight", config.VocabSize, config.DModel);
        // "Rescale output before projecting on vocab" only for tied embeddings.
        // https://github.com/huggingface/transformers/blob/v4.46.1/src/transformers/models/t5/modeling_t5.py#L1773
        _outputScale = config.TieWordEmbeddings ? (float)Math.Pow(config.DModel, -0.5) : 1f;
    }

    public T5Config Config { get; }
    public IBackend Backend { get; }
    public Embedding Shared { get; }
    public T5Stack Encoder { get; }
    public T5Stack Decoder { get; }
    public int VocabSize => Config.VocabSize;

    /// <summary>Keys the checkpoint may carry as copies of `shared.weight` (HF ties them; save_pretrained omits them).</summary>
    public static bool IsTiedCopy(string relativeKey, T5Config c) =>
        relativeKey is "encoder.embed_tokens.weight" or "decoder.embed_tokens.weight" || (c.TieWordEmbeddings && relativeKey == "lm_head.weight");

    /// <summary>Loads config.json and the weights of a plain T5 checkpoint; fails on any unused weight.</summary>
    public static T5ForConditionalGeneration Load(string modelDir, IBackend backend)
    {
        var hf = HfConfig.Load(modelDir);
        hf.ExpectModelType("t5", "T5");
        var config = hf.Bind<T5Config>();
        config.Validate(hf.Source);
        return VarBuilder.Build(modelDir, (vb, ckpt) => new T5ForConditionalGeneration(config, vb, backend, ckpt),
            k => IsTiedCopy(k, config));
    }

    /// <summary>Releases the memory-mapped weights when <see cref="Load"/> opened them.</summary>
    public void Dispose() => _checkpoint?.Dispose();

    /// <summary>shared embeddings of ids (B, T) → (B, T, C).</summary>
    public Tensor Embed(long[,] ids)
    {
        int b = ids.GetLength(0), t = ids.GetLength(1);
        for (int r = 0; r < b; r++)
            for (int j = 0; j < t; j++)
                if ((ulong)ids[r, j] >= (ulong)VocabSize)
                    throw new ArgumentException($"T5 ids[{r}, {j}] = {ids[r, j]} is outside the vocabulary [0, {VocabSize})");
        using var idsT = Backend.FromInt64(PromptBatch.Flatten(ids), b, t);
        return Shared.Forward(idsT);
    }

    /// <summary>Decoder output (B, T, C) → logits (B, T, V).</summary>
    public Tensor LmHead(Tensor decoderHidden)
    {
        if (_outputScale == 1f) return decoderHidden.Linear(_lmHead);
        using var scaled = decoderHidden.Scale(_outputScale);
        return scaled.Linear(_lmHead);
    }

    /// <summary>Encoder on ready embeddings (B, S, C) with its padding mask → (B, S, C).</summary>
    public Tensor Encode(Tensor inputsEmbeds, long[,]? attentionMask, List<Tensor>? hiddenStates = null)
    {
        using var pad = Padding(attentionMask);
        return Encoder.Forward(inputsEmbeds, pad, cache: null, queryOffset: 0, crossKv: null, crossPadding: null, hiddenStates);
    }

    /// <summary>HF's teacher-forced forward on encoder embeddings: encoder(inputs_embeds, attention_mask), decoder(
    /// decoder_input_ids, decoder_attention_mask) cross-attending to it → logits (B, T, V).</summary>
    public T5Output ForwardEmbeds(Tensor inputsEmbeds, long[,]? attentionMask, long[,] decoderInputIds, long[,]? decoderAttentionMask,
        bool outputHiddenStates = false)
    {
        var encHs = outputHiddenStates ? new List<Tensor>() : null;
        var decHs = outputHiddenStates ? new List<Tensor>() : null;
        var enc = Encode(inputsEmbeds, attentionMask, encHs);
        var cross = Decoder.CrossKeyValues(enc);
        try
        {
            using var decEmbeds = Embed(decoderInputIds);
            using var decPad = Padding(decoderAttentionMask);
            using var encPad = Padding(attentionMask);
            using var h = Decoder.Forward(decEmbeds, decPad, cache: null, queryOffset: 0, cross, encPad, decHs);
            return new T5Output(LmHead(h), enc, encHs, decHs);
        }
        finally
        {
            foreach (var (k, v) in cross) { k.Dispose(); v.Dispose(); }
        }
    }

    /// <summary>
    /// generate()'s first call on encoder embeddings (B, S, C): runs the encoder, caches the cross keys/values, and
    /// feeds decoder_start_token_id to every row; returns the state and the logits of that first step (B, V).
    /// </summary>
    public Prefilled PrefillEmbeds(Tensor inputsEmbeds, long[,]? attentionMask, int maxNewTokens)
    {
        int b = inputsEmbeds.Dim(0), s = inputsEmbeds.Dim(1);
        if (inputsEmbeds.Rank != 3 || inputsEmbeds.Dim(2) != Config.DModel)
            throw new ArgumentException($"T5 prefill: inputs_embeds {Tensor.ShapeString(inputsEmbeds.Shape)} must be (B, S, {Config.DModel})");
        if (attentionMask is not null && (attentionMask.GetLength(0) != b || attentionMask.GetLength(1) != s))
            throw new ArgumentException($"T5 prefill: attention_mask is ({attentionMask.GetLength(0)}, {attentionMask.GetLength(1)}), inputs_embeds ({b}, {s})");
        if (maxNewTokens < 1) throw new ArgumentException($"maxNewTokens must be at least 1, got {maxNewTokens}");
        var mask = attentionMask ?? PromptBatch.Ones(b, s);
        using var enc = Encode(inputsEmbeds, mask);
        var cross = Decoder.CrossKeyValues(enc);
        var cache = new KvCache(Backend, Config.DecoderLayers, b, maxNewTokens + 1, Config.NumHeads, Config.DKv);
        var state = new T5DecoderState(cache, cross, mask);
        try
        {
            var start = new int[b];
            Array.Fill(start, Config.DecoderStart);
            return new Prefilled(state, DecodeStep(state, start));
        }
        catch
        {
            state.Dispose();
            throw;
        }
    }

    /// <summary>One cached decoder step: tokens (B) at the state's position → logits (B, V).</summary>
    public Tensor DecodeStep(IDecoderState state, ReadOnlySpan<int> tokens)
    {
        if (state is not T5DecoderState s)
            throw new ArgumentException($"T5ForConditionalGeneration.DecodeStep needs a T5DecoderState, got {state?.GetType().Name ?? "null"}");
        int b = s.BatchSize;
        if (tokens.Length != b) throw new ArgumentException($"DecodeStep: {tokens.Length} tokens for {b} rows");
        var ids = new long[b, 1];
        for (int r = 0; r < b; r++) ids[r, 0] = tokens[r];
        var encPad = s.EncoderPadding();
        using var crossPadding = encPad is null ? null : Backend.FromInt64(encPad, b, encPad.Length / b);
        using var embeds = Embed(ids);                                                        // (B, 1, C)
        using var h = Decoder.Forward(embeds, null, s.Cache, s.Position, s.Cross, crossPadding, null); // (B, 1, C)
        using var logits = LmHead(h);                                                         // (B, 1, V)
        return logits.Reshape(b, VocabSize);
    }

    private Tensor? Padding(long[,]? mask)
    {
        if (mask is null) return null;
        var flat = PromptBatch.Flatten(mask);
        if (flat.All(v => v != 0)) return null;
        return Backend.FromInt64(flat, mask.GetLength(0), mask.GetLength(1));
    }
}
