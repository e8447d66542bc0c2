// OPT decoder-only language model (`OPTForCausalLM`, model_type "opt"): facebook/opt-125m … opt-6.7b and the
// language model of BLIP-2 OPT checkpoints (Salesforce/blip2-opt-2.7b, keys `language_model.*`). Follows
// transformers 4.46.1 src/transformers/models/opt/modeling_opt.py (eager attention). OPT's quirks, each once below:
// learned position embeddings indexed by `cumsum(attention_mask) * attention_mask - 1` plus an offset of 2
// (OPTLearnedPositionalEmbedding, the table has max_position_embeddings + 2 rows); q is scaled by head_dim^-0.5
// after its biased projection (the attention op scales q·k instead: the same product up to f32 rounding);
// `do_layer_norm_before` picks pre-LN (2.7b and larger, 125m) or post-LN (350m) blocks; 350m also projects
// word_embed_proj_dim ↔ hidden_size (project_in / project_out, no bias); ReLU FFN; lm_head tied to embed_tokens.
// LayerNorm eps is PyTorch's default 1e-5 (not configurable in HF).
//
// Dimension letters: B batch, T tokens of this call, L keys (cached + new), C hidden, E word_embed_proj_dim,
// H heads, D head dim, F ffn_dim, V vocabulary.
using System.Text.Json.Serialization;
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Nn;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Models;

/// <summary>config.json of an OPT model (text_config of BLIP-2 OPT); initializers are OPTConfig's defaults in
/// transformers 4.46.1 (configuration_opt.py).</summary>
public sealed record OPTConfig
{
    public int VocabSize { get; init; } = 50272;
    public int HiddenSize { get; init; } = 768;
    public int NumHiddenLayers { get; init; } = 12;
    public int FfnDim { get; init; } = 3072;
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public bool DoLayerNormBefore { get; init; } = true;
    [JsonPropertyName("_remove_final_layer_norm")]
    public bool RemoveFinalLayerNorm { get; init; }
    /// <summary>null → hidden_size (no project_in/out).</summary>
    public int? WordEmbedProjDim { get; init; }
    public int NumAttentionHeads { get; init; } = 12;
    public string ActivationFunction { get; init; } = "relu";
    public bool EnableBias { get; init; } = true;
    public bool LayerNormElementwiseAffine { get; init; } = true;
    public bool TieWordEmbeddings { get; init; } = true;
    public int PadTokenId { get; init; } = 1;
    public int BosTokenId { get; init; } = 2;
    public int EosTokenId { get; init; } = 2;

    public int EmbedDim => WordEmbedProjDim ?? HiddenSize;

    public void Validate(string source)
    {
        if (VocabSize <= 0 || HiddenSize <= 0 || NumHiddenLayers <= 0 || FfnDim <= 0 || NumAttentionHeads <= 0 || MaxPositionEmbeddings <= 0)
            throw new ModelLoadException($"Invalid OPT config {source}: sizes must be positive (vocab {VocabSize}, hidden {HiddenSize}, layers {NumHiddenLayers}, ffn {FfnDim}, heads {NumAttentionHeads}, positions {MaxPositionEmbeddings})");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new ModelLoadException($"Invalid OPT config {source}: hidden_size {HiddenSize} is not a multiple of num_attention_heads {NumAttentionHeads}");
    }
}

/// <summary>q_proj, k_proj, v_proj, out_proj (biased when enable_bias).</summary>
public sealed class OPTAttention
{
    private readonly Linear _qProj, _kProj, _vProj, _outProj;
    private readonly int _heads, _headDim;
    private readonly float _scaling;

    public OPTAttention(OPTConfig c, VarBuilder vb, IBackend backend)
    {
        _heads = c.NumAttentionHeads;
        _headDim = c.HiddenSize / c.NumAttentionHeads;
        _scaling = 1f / MathF.Sqrt(_headDim);
        _kProj = Linear.Load(vb.Sub("k_proj"), backend, c.HiddenSize, c.HiddenSize, c.EnableBias);
        _vProj = Linear.Load(vb.Sub("v_proj"), backend, c.HiddenSize, c.HiddenSize, c.EnableBias);
        _qProj = Linear.Load(vb.Sub("q_proj"), backend, c.HiddenSize, c.HiddenSize, c.EnableBias);
        _outProj = Linear.Load(vb.Sub("out_proj"), backend, c.HiddenSize, c.HiddenSize, c.EnableBias);
    }

    /// <summary>x (B, T, C) → (B, T, C); with a cache, k/v of these T tokens are appended and attention reads all L.</summary>
    public Tensor Forward(Tensor x, AttentionMask mask, KvCache? cache, int layer)
    {
        int b = x.Dim(0), t = x.Dim(1), c = x.Dim(2);
        using var q0 = _qProj.Forward(x);
        using var k0 = _kProj.Forward(x);
        using var v0 = _vProj.Forward(x);
        using var q = q0.Reshape(b, t, _heads, _headDim);                  // (B, T, H, D)
        using var k = k0.Reshape(b, t, _heads, _headDim);
        using var v = v0.Reshape(b, t, _heads, _headDim);
        Tensor keys = k, values = v;
        if (cache is not null) (keys, values) = cache.Append(layer, k, v);  // (B, L, H, D)
        try
        {
            using var a = x.Backend.Attention(q, keys, values, mask, _scaling);
            using var a2 = a.Reshape(b, t, c);
            return _outProj.Forward(a2);
        }
        finally
        {
            if (cache is not null) { keys.Dispose(); values.Dispose(); }
        }
    }
}

/// <summary>`layers.{i}`: self_attn + self_attn_layer_norm, fc1 → act → fc2 + final_layer_norm, pre- or post-LN.</summary>
public sealed class OPTDecoderLayer
{
    private readonly OPTAttention _selfAttn;
    private readonly LayerNorm _selfAttnLayerNorm, _finalLayerNorm;
    private readonly Linear _fc1, _fc2;
    private readonly Activation _act;
    private readonly bool _before;

    public OPTDecoderLayer(OPTConfig c, VarBuilder vb, IBackend backend)
    {
        _before = c.DoLayerNormBefore;
        _act = Activations.FromHf(c.ActivationFunction);
        _selfAttn = new OPTAttention(c, vb.Sub("self_attn"), backend);
        _selfAttnLayerNorm = LoadNorm(c, vb.Sub("self_attn_layer_norm"), backend);
        _fc1 = Linear.Load(vb.Sub("fc1"), backend, c.HiddenSize, c.FfnDim, c.EnableBias);
        _fc2 = Linear.Load(vb.Sub("fc2"), backend, c.FfnDim, c.HiddenSize, c.EnableBias);
        _finalLayerNorm = LoadNorm(c, vb.Sub("final_layer_norm"), backend);
    }

    /// <summary>nn.LayerNorm(hidden, elementwise_affine=layer_norm_elementwise_affine), eps 1e-5.</summary>
    internal static LayerNorm LoadNorm(OPTConfig c, VarBuilder vb, IBackend backend) =>
        c.LayerNormElementwiseAffine ? LayerNorm.Load(vb, backend, c.HiddenSize, 1e-5f) : new LayerNorm(null, null, 1e-5f);

    /// <summary>(B, T, C) → (B, T, C)</summary>
    public Tensor Forward(Tensor x, AttentionMask mask, KvCache? cache, int layer)
    {
        Tensor h;
        using (var n = _before ? _selfAttnLayerNorm.Forward(x) : null)
        using (var a = _selfAttn.Forward(n ?? x, mask, cache, layer))
            h = x.Add(a);
        if (!_before)
        {
            var normed = _selfAttnLayerNorm.Forward(h);
            h.Dispose();
            h = normed;
        }
        Tensor y;
        using (h)
        using (var n = _before ? _finalLayerNorm.Forward(h) : null)
        using (var f1 = _fc1.Forward(n ?? h))                                // (B, T, F)
        using (var f1a = f1.Activate(_act))
        using (var f2 = _fc2.Forward(f1a))
            y = h.Add(f2);
        if (_before) return y;
        var z = _finalLayerNorm.Forward(y);
        y.Dispose();
        return z;
    }
}

/// <summary>`model.decoder.*`: embed_tokens, embed_positions, project_in/out, layers, final_layer_norm.</summary>
public sealed class OPTDecoder
{
    /// <summary>OPTLearnedPositionalEmbedding's offset: "if padding_idx is specified then offset the embedding ids by 2".
    /// https://github.com/huggingface/transformers/blob/v4.46.1/src/transformers/models/opt/modeling_opt.py#L66</summary>
    public const int PositionOffset = 2;

    private readonly OPTConfig _c;
    private readonly Embedding _embedPositions;
    private readonly Linear? _projectIn, _projectOut;
    private readonly LayerNorm? _finalLayerNorm;
    private readonly OPTDecoderLayer[] _layers;

    public OPTDecoder(OPTConfig c, VarBuilder vb, IBackend backend)
    {
        _c = c;
        EmbedTokens = Embedding.Load(vb.Sub("embed_tokens"), backend, c.VocabSize, c.EmbedDim);
        _embedPositions = Embedding.Load(vb.Sub("embed_positions"), backend, c.MaxPositionEmbeddings + PositionOffset, c.HiddenSize);
        if (c.EmbedDim != c.HiddenSize)
        {
            _projectIn = Linear.Load(vb.Sub("project_in"), backend, c.EmbedDim, c.HiddenSize, bias: false);
            _projectOut = Linear.Load(vb.Sub("project_out"), backend, c.HiddenSize, c.EmbedDim, bias: false);
        }
        if (c.DoLayerNormBefore && !c.RemoveFinalLayerNorm)
            _finalLayerNorm = OPTDecoderLayer.LoadNorm(c, vb.Sub("final_layer_norm"), backend);
        _layers = new OPTDecoderLayer[c.NumHiddenLayers];
        for (int i = 0; i < _layers.Length; i++)
            _layers[i] = new OPTDecoderLayer(c, vb.Sub("layers").Sub(i), backend);
    }

    public Embedding EmbedTokens { get; }

    /// <summary>
    /// inputs_embeds (B, T, E) at positions (B, T) (0-based, before the offset) → last hidden state (B, T, E) after
    /// final_layer_norm and project_out. <paramref name="hiddenStates"/> receives HF's output_hidden_states:
    /// embeddings + positions, the input of every later layer, then the final output (the caller disposes them).
    /// </summary>
    public Tensor Forward(Tensor inputsEmbeds, long[,] positions, AttentionMask mask, KvCache? cache, List<Tensor>? hiddenStates)
    {
        var be = inputsEmbeds.Backend;
        int b = positions.GetLength(0), t = positions.GetLength(1);
        var rows = new long[b * t];
        for (int r = 0; r < b; r++)
            for (int j = 0; j < t; j++)
            {
                long p = positions[r, j] + PositionOffset;
                if ((ulong)p >= (ulong)_embedPositions.NumEmbeddings)
                    throw new ArgumentException($"OPT: position {positions[r, j]} of row {r} is outside max_position_embeddings {_c.MaxPositionEmbeddings}");
                rows[r * t + j] = p;
            }
        using var posIds = be.FromInt64(rows, b, t);
        using var pos = _embedPositions.Forward(posIds);                    // (B, T, C)
        using var projected = _projectIn?.Forward(inputsEmbeds);
        var h = (projected ?? inputsEmbeds).Add(pos);                        // (B, T, C)
        for (int i = 0; i < _layers.Length; i++)
        {
            hiddenStates?.Add(h.Reshape(h.ShapeArray));
            var next = _layers[i].Forward(h, mask, cache, i);
            h.Dispose();
            h = next;
        }
        if (_finalLayerNorm is not null) h = Replace(h, _finalLayerNorm.Forward(h));
        if (_projectOut is not null) h = Replace(h, _projectOut.Forward(h));
        hiddenStates?.Add(h.Reshape(h.ShapeArray));
        return h;
    }

    private static Tensor Replace(Tensor old, Tensor fresh)
    {
        old.Dispose();
        return fresh;
    }
}

/// <summary>OPT with its LM head (`model.decoder.*`, `lm_head.weight` tied to `model.decoder.embed_tokens.weight`).</summary>
public sealed class OPTForCausalLM : IAutoregressiveModel, IDisposable
{
    private readonly SafetensorsCheckpoint? _checkpoint;
    private readonly Tensor _lmHead;  // (V, E)

    /// <param name="vb">scope holding `model.` (and `lm_head.` when untied)</param>
    /// <param name="owned">the checkpoint to release on Dispose when this model loaded it (null inside BLIP-2, which owns it)</param>
    public OPTForCausalLM(OPTConfig config, VarBuilder vb, IBackend backend, SafetensorsCheckpoint? owned = null)
    {
        _checkpoint = owned;
        Config = config;
        Backend = backend;
        Decoder = new OPTDecoder(config, vb.Sub("model").Sub("decoder"), backend);
        _lmHead = config.TieWordEmbeddings
            ? Decoder.EmbedTokens.Weight
            : vb.Tensor(backend, "lm_head.weight", config.VocabSize, config.EmbedDim);
    }

    public OPTConfig Config { get; }
    public IBackend Backend { get; }
    public OPTDecoder Decoder { get; }
    public int VocabSize => Config.VocabSize;

    /// <summary>Loads config.json and the safetensors weights of a plain OPT checkpoint; fails on any unused weight.</summary>
    public static OPTForCausalLM Load(string modelDir, IBackend backend)
    {
        var hf = HfConfig.Load(modelDir);
        hf.ExpectModelType("opt", "OPT");
        var config = hf.Bind<OPTConfig>();
        config.Validate(hf.Source);
        return VarBuilder.Build(modelDir, (vb, ckpt) => new OPTForCausalLM(config, vb, backend, ckpt),
            k => config.TieWordEmbeddings && k == "lm_head.weight");
    }

    /// <summary>Releases the memory-mapped weights when <see cref="Load"/> opened them.</summary>
    public void Dispose() => _checkpoint?.Dispose();

    /// <summary>Token embeddings (B, T, E).</summary>
    public Tensor Embed(long[,] inputIds)
    {
        using var ids = Backend.FromInt64(PromptBatch.Flatten(inputIds), inputIds.GetLength(0), inputIds.GetLength(1));
        return Decoder.EmbedTokens.Forward(ids);
    }

    /// <summary>Final hidden states (B, T, E) → logits (B, T, V).</summary>
    public Tensor LmHead(Tensor hidden) => hidden.Linear(_lmHead);

    /// <summary>OPT's positions from the mask: cumsum(mask) · mask − 1 (pads −1, i.e. table row 1 after the offset).</summary>
    public static long[,] PositionsFromMask(long[,] mask)
    {
        int b = mask.GetLength(0), t = mask.GetLength(1);
        var pos = new long[b, t];
        for (int r = 0; r < b; r++)
        {
            long c = 0;
            for (int j = 0; j < t; j++)
            {
                long m = mask[r, j] != 0 ? 1 : 0;
                c += m;
                pos[r, j] = c * m - 1;
            }
        }
        return pos;
    }

    /// <summary>HF's forward on ready embeddings (B, T, E): causal + key padding, positions from the mask. Returns the
    /// logits (B, T, V); <paramref name="hiddenStates"/> receives output_hidden_states.</summary>
    public Tensor ForwardEmbeds(Tensor inputsEmbeds, long[,] attentionMask, List<Tensor>? hiddenStates = null)
    {
        using var padding = PromptBatch.KeyPadding(Backend, attentionMask);
        var mask = new AttentionMask { Causal = true, KeyPadding = padding };
        using var h = Decoder.Forward(inputsEmbeds, PositionsFromMask(attentionMask), mask, cache: null, hiddenStates);
        return LmHead(h);
    }

    /// <summary>HF's forward on ids (B, T): logits (B, T, V).</summary>
    public Tensor Forward(long[,] inputIds, long[,]? attentionMask = null, List<Tensor>? hiddenStates = null)
    {
        PromptBatch.CheckIds(inputIds, VocabSize);
        using var embeds = Embed(inputIds);
        return ForwardEmbeds(embeds, attentionMask ?? PromptBatch.Ones(inputIds.GetLength(0), inputIds.GetLength(1)), hiddenStates);
    }

    /// <summary>
    /// Runs a left-padded prompt given as embeddings (B, T, E) (BLIP-2 merges its image queries first), filling a KV
    /// cache sized for <paramref name="maxNewTokens"/> more tokens; returns the state and the last position's logits.
    /// </summary>
    public Prefilled PrefillEmbeds(Tensor inputsEmbeds, long[,] attentionMask, int maxNewTokens)
    {
        int b = attentionMask.GetLength(0), t = attentionMask.GetLength(1);
        if (inputsEmbeds.Rank != 3 || inputsEmbeds.Dim(0) != b || inputsEmbeds.Dim(1) != t || inputsEmbeds.Dim(2) != Config.EmbedDim)
            throw new ArgumentException($"OPT prefill: inputs_embeds {Tensor.ShapeString(inputsEmbeds.Shape)} does not match attention_mask ({b}, {t}) and width {Config.EmbedDim}");
        PromptBatch.CheckLeftPadded(attentionMask);
        if (maxNewTokens < 1) throw new ArgumentException($"maxNewTokens must be at least 1, got {maxNewTokens}");
        var cache = new KvCache(Backend, Config.NumHiddenLayers, b, t + maxNewTokens, Config.NumAttentionHeads, Config.HiddenSize / Config.NumAttentionHeads);
        try
        {
            var positions = PositionsFromMask(attentionMask);
            using var padding = PromptBatch.KeyPadding(Backend, attentionMask);
            var mask = new AttentionMask { Causal = true, KeyPadding = padding };
            using var h = Decoder.Forward(inputsEmbeds, positions, mask, cache, hiddenStates: null); // (B, T, E)
            using var last = h.Narrow(1, t - 1, 1);                                              // (B, 1, E)
            using var logits = LmHead(last);                                                      // (B, 1, V)
            return new Prefilled(CausalLmDecoderState.AfterPrompt(cache, attentionMask, positions), logits.Reshape(b, Config.VocabSize));
        }
        catch
        {
            cache.Dispose();
            throw;
        }
    }

    /// <summary>Prefill from ids (B, T), left-padded.</summary>
    public Prefilled Prefill(long[,] inputIds, long[,]? attentionMask, int maxNewTokens)
    {
        PromptBatch.CheckIds(inputIds, VocabSize);
        using var embeds = Embed(inputIds);
        return PrefillEmbeds(embeds, attentionMask ?? PromptBatch.Ones(inputIds.GetLength(0), inputIds.GetLength(1)), maxNewTokens);
    }

    /// <summary>One cached step: tokens (B) at each row's next position; attends to every cached key but padding.</summary>
    public Tensor DecodeStep(IDecoderState state, ReadOnlySpan<int> tokens)
    {
        var s = CausalLmDecoderState.Of(state, "OPTForCausalLM");
        int b = s.BatchSize;
        var (ids, positions, pad) = s.Advance(tokens, VocabSize);
        using var padding = pad is null ? null : Backend.FromInt64(pad, b, pad.Length / b);
        var mask = new AttentionMask { KeyPadding = padding };
        using var embeds = Embed(ids);                                           // (B, 1, E)
        using var h = Decoder.Forward(embeds, positions, mask, s.Cache, null);   // (B, 1, E)
        using var logits = LmHead(h);                                            // (B, 1, V)
        return logits.Reshape(b, VocabSize);
    }

    /// <summary>Prefill + generation loop for a left-padded batch of ids.</summary>
    public GenerationResult Generate(long[,] inputIds, long[,]? attentionMask, GenerationOptions options) =>
        Generator.Generate(this, Prefill(inputIds, attentionMask, options.MaxNewTokens), options);
}
