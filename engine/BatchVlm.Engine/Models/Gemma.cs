// Gemma decoder-only language model (`GemmaForCausalLM`, model_type "gemma"): google/gemma-2b, gemma-7b and the
// text half of PaliGemma. Follows transformers 4.46.1 src/transformers/models/gemma/modeling_gemma.py (eager
// attention path) and candle-transformers/src/models/gemma.rs; numeric details in ../Generation/REFERENCE.md.
// Gemma's quirks, each written once below: RMSNorm scales by (1 + w); embeddings are multiplied by sqrt(hidden)
// rounded to the activation dtype; head_dim is a config key, not hidden / heads; multi-query attention (1 kv head
// in 2B); gelu-tanh gated MLP; RoPE in rotate-half form; tied LM head.
//
// Dimension letters: B batch, T tokens of this call, L keys (cached + new), C hidden, H query heads,
// K key/value heads, D head dim, F MLP width, V vocabulary.
using System.Text.Json;
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Nn;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Models;

/// <summary>config.json of a Gemma model; initializers are GemmaConfig's defaults in transformers 4.46.1
/// (configuration_gemma.py), since config.json files only store what differs.</summary>
public sealed record GemmaConfig
{
    public int VocabSize { get; init; } = 256000;
    public int HiddenSize { get; init; } = 3072;
    public int IntermediateSize { get; init; } = 24576;
    public int NumHiddenLayers { get; init; } = 28;
    public int NumAttentionHeads { get; init; } = 16;
    public int NumKeyValueHeads { get; init; } = 16;
    public int HeadDim { get; init; } = 256;
    /// <summary>HF ≥ 4.39 reads <c>hidden_activation</c> (null → gelu_pytorch_tanh) and ignores <c>hidden_act</c>.</summary>
    public string? HiddenActivation { get; init; }
    public float RmsNormEps { get; init; } = 1e-6f;
    public float RopeTheta { get; init; } = 10000f;
    public int MaxPositionEmbeddings { get; init; } = 8192;
    public bool AttentionBias { get; init; }
    public bool TieWordEmbeddings { get; init; } = true;
    public int PadTokenId { get; init; }
    public int BosTokenId { get; init; } = 2;
    /// <summary>An id or a list of ids (see <see cref="EosTokenIds"/>).</summary>
    public JsonElement? EosTokenId { get; init; }

    public IReadOnlyList<int> EosTokenIds => TokenIds(EosTokenId, 1);

    /// <summary>The ids of an optional <c>eos_token_id</c> key; <paramref name="fallback"/> when the key is absent.</summary>
    internal static IReadOnlyList<int> TokenIds(JsonElement? e, int fallback) =>
        e is { } value ? GenerationDefaults.TokenIds(value, "config.json") : [fallback];

    public void Validate(string source)
    {
        void Positive(int v, string key)
        {
            if (v <= 0) throw new ModelLoadException($"Invalid Gemma config {source}: {key} = {v} must be positive");
        }
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(NumKeyValueHeads, "num_key_value_heads");
        Positive(HeadDim, "head_dim");
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw new ModelLoadException($"Invalid Gemma config {source}: num_attention_heads {NumAttentionHeads} is not a multiple of num_key_value_heads {NumKeyValueHeads}");
        if (HeadDim % 2 != 0)
            throw new ModelLoadException($"Invalid Gemma config {source}: head_dim {HeadDim} must be even for rotary embeddings");
    }
}

/// <summary>Gemma's RMSNorm: x · rsqrt(mean(x²) + eps) · (1 + w), in f32.
/// https://github.com/huggingface/transformers/blob/v4.46.1/src/transformers/models/gemma/modeling_gemma.py#L48
/// The (1 + w) is formed once here at load (HF forms it every call in f32: same numbers) and nowhere else.</summary>
public sealed class GemmaRmsNorm(Tensor onePlusWeight, float eps)
{
    public Tensor OnePlusWeight { get; } = onePlusWeight;
    public float Eps { get; } = eps;

    public static GemmaRmsNorm Load(VarBuilder vb, IBackend backend, int size, float eps)
    {
        using var w = vb.TensorF32(backend, "weight", size);
        return new GemmaRmsNorm(w.Scale(1f, 1f), eps);
    }

    /// <summary>(..., C) → (..., C)</summary>
    public Tensor Forward(Tensor x) => x.RmsNorm(OnePlusWeight, Eps);
}

public sealed class GemmaAttention
{
    private readonly Linear _qProj, _kProj, _vProj, _oProj;
    private readonly int _heads, _kvHeads, _headDim;
    private readonly float _scale;

    public GemmaAttention(GemmaConfig c, VarBuilder vb, IBackend backend)
    {
        _heads = c.NumAttentionHeads;
        _kvHeads = c.NumKeyValueHeads;
        _headDim = c.HeadDim;
        // Scale by head_dim, not hidden / heads (they differ in Gemma-7B and in the fixtures).
        _scale = 1f / MathF.Sqrt(c.HeadDim);
        _qProj = Linear.Load(vb.Sub("q_proj"), backend, c.HiddenSize, _heads * _headDim, c.AttentionBias);
        _kProj = Linear.Load(vb.Sub("k_proj"), backend, c.HiddenSize, _kvHeads * _headDim, c.AttentionBias);
        _vProj = Linear.Load(vb.Sub("v_proj"), backend, c.HiddenSize, _kvHeads * _headDim, c.AttentionBias);
        _oProj = Linear.Load(vb.Sub("o_proj"), backend, _heads * _headDim, c.HiddenSize, c.AttentionBias);
    }

    /// <summary>x (B, T, C) → (B, T, C). With a cache, k/v of these T tokens are appended and attention reads all L.</summary>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, AttentionMask mask, KvCache? cache, int layer)
    {
        int b = x.Dim(0), t = x.Dim(1);
        var be = x.Backend;
        using var q0 = _qProj.Forward(x);                        // (B, T, H·D)
        using var q1 = q0.Reshape(b, t, _heads, _headDim);        // (B, T, H, D)
        using var q = be.Rope(q1, cos, sin);
        using var k0 = _kProj.Forward(x);                        // (B, T, K·D)
        using var k1 = k0.Reshape(b, t, _kvHeads, _headDim);
        using var k = be.Rope(k1, cos, sin);                     // (B, T, K, D)
        using var v0 = _vProj.Forward(x);
        using var v = v0.Reshape(b, t, _kvHeads, _headDim);      // (B, T, K, D)
        Tensor keys = k, values = v;
        if (cache is not null) (keys, values) = cache.Append(layer, k, v); // (B, L, K, D)
        try
        {
            using var a = be.Attention(q, keys, values, mask, _scale); // (B, T, H, D)
            using var a2 = a.Reshape(b, t, _heads * _headDim);
            return _oProj.Forward(a2);
        }
        finally
        {
            if (cache is not null) { keys.Dispose(); values.Dispose(); }
        }
    }
}

/// <summary>down_proj(gelu_tanh(gate_proj(x)) · up_proj(x)).</summary>
public sealed class GemmaMlp
{
    private readonly Linear _gateProj, _upProj, _downProj;
    private readonly Activation _act;

    public GemmaMlp(GemmaConfig c, VarBuilder vb, IBackend backend)
    {
        _act = Activations.FromHf(c.HiddenActivation ?? "gelu_pytorch_tanh");
        _gateProj = Linear.Load(vb.Sub("gate_proj"), backend, c.HiddenSize, c.IntermediateSize, bias: false);
        _upProj = Linear.Load(vb.Sub("up_proj"), backend, c.HiddenSize, c.IntermediateSize, bias: false);
        _downProj = Linear.Load(vb.Sub("down_proj"), backend, c.IntermediateSize, c.HiddenSize, bias: false);
    }

    /// <summary>(B, T, C) → (B, T, C)</summary>
    public Tensor Forward(Tensor x)
    {
        using var g = _gateProj.Forward(x);   // (B, T, F)
        using var ga = g.Activate(_act);
        using var u = _upProj.Forward(x);     // (B, T, F)
        using var h = ga.Mul(u);
        return _downProj.Forward(h);
    }
}

public sealed class GemmaDecoderLayer
{
    private readonly GemmaRmsNorm _inputLayernorm, _postAttentionLayernorm;
    private readonly GemmaAttention _selfAttn;
    private readonly GemmaMlp _mlp;

    public GemmaDecoderLayer(GemmaConfig c, VarBuilder vb, IBackend backend)
    {
        _inputLayernorm = GemmaRmsNorm.Load(vb.Sub("input_layernorm"), backend, c.HiddenSize, c.RmsNormEps);
        _selfAttn = new GemmaAttention(c, vb.Sub("self_attn"), backend);
        _postAttentionLayernorm = GemmaRmsNorm.Load(vb.Sub("post_attention_layernorm"), backend, c.HiddenSize, c.RmsNormEps);
        _mlp = new GemmaMlp(c, vb.Sub("mlp"), backend);
    }

    /// <summary>(B, T, C) → (B, T, C), pre-norm residual blocks.</summary>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, AttentionMask mask, KvCache? cache, int layer)
    {
        Tensor h;
        using (var n = _inputLayernorm.Forward(x))
        using (var a = _selfAttn.Forward(n, cos, sin, mask, cache, layer))
            h = x.Add(a);
        using (h)
        using (var n = _postAttentionLayernorm.Forward(h))
        using (var m = _mlp.Forward(n))
            return h.Add(m);
    }
}

/// <summary>The decoder stack (`model.*` keys): embed_tokens, layers, norm.</summary>
public sealed class GemmaModel
{
    private readonly GemmaConfig _c;
    private readonly GemmaDecoderLayer[] _layers;
    private readonly GemmaRmsNorm _norm;
    private readonly float _normalizer;

    public GemmaModel(GemmaConfig c, VarBuilder vb, IBackend backend)
    {
        _c = c;
        EmbedTokens = Embedding.Load(vb.Sub("embed_tokens"), backend, c.VocabSize, c.HiddenSize);
        _layers = new GemmaDecoderLayer[c.NumHiddenLayers];
        for (int i = 0; i < _layers.Length; i++)
            _layers[i] = new GemmaDecoderLayer(c, vb.Sub("layers").Sub(i), backend);
        _norm = GemmaRmsNorm.Load(vb.Sub("norm"), backend, c.HiddenSize, c.RmsNormEps);
        // `hidden_states * torch.tensor(hidden_size ** 0.5, dtype=hidden_states.dtype)`: the constant is rounded to the
        // embedding/activation dtype first — f32 here (sqrt(2048) = 45.254833f); a bf16 model would use 45.25.
        // https://github.com/huggingface/transformers/blob/v4.46.1/src/transformers/models/gemma/modeling_gemma.py (GemmaModel.forward)
        // (why: https://github.com/huggingface/transformers/pull/29402)
        _normalizer = (float)Math.Sqrt(c.HiddenSize);
    }

    public Embedding EmbedTokens { get; }

    /// <summary>
    /// Runs the stack on unscaled input embeddings (B, T, C) at the given RoPE positions (B, T) and returns the
    /// final-normed hidden states (B, T, C). <paramref name="hiddenStates"/>, when given, receives HF's
    /// output_hidden_states: the scaled embeddings, the output of every layer but the last, and the final-normed
    /// output (the caller disposes them).
    /// </summary>
    public Tensor Forward(Tensor inputsEmbeds, long[,] positions, AttentionMask mask, KvCache? cache, List<Tensor>? hiddenStates)
    {
        var be = inputsEmbeds.Backend;
        var (cos, sin) = RotaryTables.Create(be, positions, _c.HeadDim, _c.RopeTheta); // (B, T, D) each
        using (cos)
        using (sin)
        {
            var h = inputsEmbeds.Scale(_normalizer);          // (B, T, C)
            for (int i = 0; i < _layers.Length; i++)
            {
                hiddenStates?.Add(h);
                var next = _layers[i].Forward(h, cos, sin, mask, cache, i);
                if (hiddenStates is null) h.Dispose();
                h = next;
            }
            var normed = _norm.Forward(h);
            h.Dispose();
            hiddenStates?.Add(normed.Reshape(normed.ShapeArray)); // the list gets its own view: the caller disposes both
            return normed;
        }
    }
}

/// <summary>Outputs of a full (uncached) forward.</summary>
/// <param name="Logits">(B, T, V) f32</param>
/// <param name="HiddenStates">HF's output_hidden_states when asked for, else null</param>
public sealed record GemmaOutput(Tensor Logits, IReadOnlyList<Tensor>? HiddenStates) : IDisposable
{
    public void Dispose()
    {
        Logits.Dispose();
        if (HiddenStates is not null) foreach (var h in HiddenStates) h.Dispose();
    }
}

/// <summary>Gemma with its LM head (`model.*`, `lm_head.weight` tied to `model.embed_tokens.weight`).</summary>
public sealed class GemmaForCausalLM : IAutoregressiveModel
{
    private readonly Tensor _lmHead;  // (V, C)

    /// <param name="vb">scope holding `model.` (and `lm_head.` when untied)</param>
    public GemmaForCausalLM(GemmaConfig config, VarBuilder vb, IBackend backend)
    {
        Config = config;
        Backend = backend;
        Model = new GemmaModel(config, vb.Sub("model"), backend);
        // tie_word_embeddings: HF's tie_weights() makes lm_head the embedding matrix even if a checkpoint stores one.
        _lmHead = config.TieWordEmbeddings
            ? Model.EmbedTokens.Weight
            : vb.Tensor(backend, "lm_head.weight", config.VocabSize, config.HiddenSize);
        GenerationDefaults = new GenerationDefaults(config.EosTokenIds, config.PadTokenId);
    }

    public GemmaConfig Config { get; }
    public IBackend Backend { get; }
    public GemmaModel Model { get; }
    public int VocabSize => Config.VocabSize;

    /// <summary>eos / pad ids for generate(): generation_config.json when loaded from a folder that has one, else config.json's.</summary>
    public GenerationDefaults GenerationDefaults { get; private set; }

    /// <summary>Loads config.json and the safetensors weights of <paramref name="modelDir"/>; fails on any unused weight.</summary>
    public static GemmaForCausalLM Load(string modelDir, IBackend backend)
    {
        var hf = HfConfig.Load(modelDir);
        hf.ExpectModelType("gemma", "Gemma");
        var config = hf.Bind<GemmaConfig>();
        config.Validate(hf.Source);
        var checkpoint = SafetensorsCheckpoint.Open(modelDir);
        var vb = new VarBuilder(checkpoint);
        var model = new GemmaForCausalLM(config, vb, backend);
        vb.ThrowIfUnused(k => config.TieWordEmbeddings && k == "lm_head.weight");
        model.GenerationDefaults = GenerationDefaults.Load(modelDir, config.EosTokenIds, config.PadTokenId);
        return model;
    }

    /// <summary>Unscaled token embeddings: ids (B, T) → (B, T, C).</summary>
    public Tensor Embed(long[,] inputIds)
    {
        using var ids = Backend.FromInt64(PromptBatch.Flatten(inputIds), inputIds.GetLength(0), inputIds.GetLength(1));
        return Model.EmbedTokens.Forward(ids);
    }

    /// <summary>Final hidden states (B, T, C) → logits (B, T, V).</summary>
    public Tensor LmHead(Tensor hidden) => hidden.Linear(_lmHead);

    /// <summary>
    /// HF's plain forward: <c>model(input_ids, attention_mask, position_ids)</c>. Causal attention with key padding
    /// from <paramref name="attentionMask"/> (1 real, 0 pad; null = all real); positions default to 0..T-1 for every
    /// row, as HF's forward does (it does not shift left-padded rows; generate() does).
    /// </summary>
    public GemmaOutput Forward(long[,] inputIds, long[,]? attentionMask = null, long[,]? positionIds = null, bool outputHiddenStates = false)
    {
        int b = inputIds.GetLength(0), t = inputIds.GetLength(1);
        PromptBatch.CheckIds(inputIds, VocabSize, attentionMask, positionIds);
        positionIds ??= PromptBatch.Arange(b, t, 0);
        using var padding = PromptBatch.KeyPadding(Backend, attentionMask);
        var mask = new AttentionMask { Causal = true, KeyPadding = padding };
        var hidden = outputHiddenStates ? new List<Tensor>() : null;
        using var embeds = Embed(inputIds);
        using var h = Model.Forward(embeds, positionIds, mask, cache: null, hidden);
        return new GemmaOutput(LmHead(h), hidden);
    }

    /// <summary>
    /// Runs the prompt through the decoder, filling a KV cache sized for <paramref name="maxNewTokens"/> more tokens,
    /// as <c>generate()</c> does: left padding only; positions = cumsum(mask) − 1 (pads 1); causal + key padding.
    /// </summary>
    public Prefilled Prefill(long[,] inputIds, long[,]? attentionMask, int maxNewTokens)
    {
        PromptBatch.CheckIds(inputIds, VocabSize, attentionMask);
        var maskValues = attentionMask ?? PromptBatch.Ones(inputIds.GetLength(0), inputIds.GetLength(1));
        var positions = PromptBatch.GenerationPositions(maskValues, firstPosition: 0);
        using var embeds = Embed(inputIds);
        return PrefillEmbeds(embeds, maskValues, positions, causal: true, maxNewTokens);
    }

    /// <summary>Prefill from ready embeddings (PaliGemma merges image features first). <paramref name="causal"/> false =
    /// every prompt token sees the whole prompt (PaliGemma's prefix).</summary>
    internal Prefilled PrefillEmbeds(Tensor inputsEmbeds, long[,] attentionMask, long[,] positions, bool causal, int maxNewTokens)
    {
        int b = attentionMask.GetLength(0), t = attentionMask.GetLength(1);
        PromptBatch.CheckLeftPadded(attentionMask);
        if (maxNewTokens < 1) throw new ArgumentException($"maxNewTokens must be at least 1, got {maxNewTokens}");
        var cache = new KvCache(Backend, Config.NumHiddenLayers, b, t + maxNewTokens, Config.NumKeyValueHeads, Config.HeadDim);
        try
        {
            using var padding = PromptBatch.KeyPadding(Backend, attentionMask);
            var mask = new AttentionMask { Causal = causal, KeyPadding = padding };
            using var h = Model.Forward(inputsEmbeds, positions, mask, cache, hiddenStates: null); // (B, T, C)
            using var last = h.Narrow(1, t - 1, 1);                                               // (B, 1, C)
            using var logits = LmHead(last);                                                       // (B, 1, V)
            return new Prefilled(CausalLmDecoderState.AfterPrompt(cache, attentionMask, positions), logits.Reshape(b, Config.VocabSize));
        }
        catch
        {
            cache.Dispose();
            throw;
        }
    }

    /// <summary>One cached step: tokens (B) at each row's next position; attends to every cached key but padding.</summary>
    public Tensor DecodeStep(IDecoderState state, ReadOnlySpan<int> tokens)
    {
        var s = CausalLmDecoderState.Of(state, "GemmaForCausalLM");
        int b = s.BatchSize;
        var (ids, positions, pad) = s.Advance(tokens, VocabSize);
        using var padding = pad is null ? null : Backend.FromInt64(pad, b, pad.Length / b);
        var mask = new AttentionMask { KeyPadding = padding };
        using var embeds = Embed(ids);                                          // (B, 1, C)
        using var h = Model.Forward(embeds, positions, mask, s.Cache, null);    // (B, 1, C)
        using var logits = LmHead(h);                                           // (B, 1, V)
        return logits.Reshape(b, VocabSize);
    }

    /// <summary>Prefill + generation loop for a left-padded batch (B, T).</summary>
    public GenerationResult Generate(long[,] inputIds, long[,]? attentionMask, GenerationOptions options) =>
        Generator.Generate(this, Prefill(inputIds, attentionMask, options.MaxNewTokens), options);

    /// <summary>Generation for prompts of different lengths: left-pads them with <see cref="GemmaConfig.PadTokenId"/>.</summary>
    public GenerationResult Generate(IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions options)
    {
        var (ids, mask) = PromptBatch.LeftPad(prompts, Config.PadTokenId);
        return Generate(ids, mask, options);
    }
}
