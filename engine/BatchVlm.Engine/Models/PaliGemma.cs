// PaliGemma (`PaliGemmaForConditionalGeneration`, model_type "paligemma"): google/paligemma-3b-*-224/448/896.
// Composes the SigLIP vision tower (Siglip.cs, keys `vision_tower.vision_model.*`), a linear projector
// (`multi_modal_projector.linear`) and the Gemma decoder (Gemma.cs, keys `language_model.*`); nothing is copied.
// Follows transformers 4.46.1 src/transformers/models/paligemma/modeling_paligemma.py and
// candle-transformers/src/models/paligemma.rs; the exact rules are in ../Generation/REFERENCE.md:
//  - image features = projector(vision last_hidden_state) / sqrt(config.hidden_size), scattered row-major into the
//    rows of the image tokens; Gemma then multiplies every row (image rows too) by sqrt(text hidden);
//  - RoPE positions are 1-based (`cache_position + 1`);
//  - attention at inference: the whole prompt (image + prefix) is bidirectional, generated tokens see everything
//    before them; with labels + token_type_ids (training) the prefix (type 0) is bidirectional and the suffix causal;
//  - loss: mean cross-entropy of logits[:, :-1] vs labels[:, 1:] where attention_mask[:, 1:] != 0 and label != -100.
//
// Dimension letters: B batch, T tokens, N image tokens (patches), Cv vision width, C text width, V vocabulary.
using System.Text.Json;
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Nn;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Models;

/// <summary>Top level of a PaliGemma config.json (text_config / vision_config are bound separately); initializers
/// are PaliGemmaConfig's defaults in transformers 4.46.1.</summary>
public sealed record PaliGemmaConfig
{
    public int ImageTokenIndex { get; init; } = 256000;
    /// <summary>Divides the projected image features (<c>/ config.hidden_size ** 0.5</c>).</summary>
    public int HiddenSize { get; init; } = 2048;
    /// <summary>Projector output width (copied into vision_config.projection_dim by HF).</summary>
    public int ProjectionDim { get; init; } = 2048;
    public int IgnoreIndex { get; init; } = -100;
    public int PadTokenId { get; init; }
    public int BosTokenId { get; init; } = 2;
    public JsonElement? EosTokenId { get; init; }

    public IReadOnlyList<int> EosTokenIds => GemmaConfig.TokenIds(EosTokenId, 1);
}

/// <summary>Everything a full (uncached) PaliGemma forward computed.</summary>
/// <param name="Logits">(B, T, V)</param>
/// <param name="Loss">mean cross-entropy when labels were given</param>
/// <param name="ImageFeatures">(B, N, C) scaled projector output, when pixels were given</param>
/// <param name="HiddenStates">Gemma's output_hidden_states when asked for</param>
public sealed record PaliGemmaOutput(Tensor Logits, float? Loss, Tensor? ImageFeatures, IReadOnlyList<Tensor>? HiddenStates) : IDisposable
{
    public void Dispose()
    {
        Logits.Dispose();
        ImageFeatures?.Dispose();
        if (HiddenStates is not null) foreach (var h in HiddenStates) h.Dispose();
    }
}

public sealed class PaliGemmaForConditionalGeneration : IAutoregressiveModel
{
    private readonly SiglipVisionTransformer _visionTower;
    private readonly Linear _multiModalProjector;
    private readonly GemmaForCausalLM _languageModel;
    private readonly float _imageScale;

    public PaliGemmaForConditionalGeneration(PaliGemmaConfig config, GemmaConfig textConfig, SiglipVisionConfig visionConfig,
        VarBuilder vb, IBackend backend)
    {
        if (config.ProjectionDim != textConfig.HiddenSize)
            throw new ModelLoadException(
                $"Invalid PaliGemma config: projection_dim {config.ProjectionDim} must equal text_config.hidden_size {textConfig.HiddenSize} (the projector feeds Gemma's embeddings)");
        Config = config;
        TextConfig = textConfig;
        VisionConfig = visionConfig;
        Backend = backend;
        // HF builds the tower with AutoModel (SiglipVisionModel), hence the extra `vision_model.` level; PaliGemma only
        // reads last_hidden_state, so the pooling head is never built.
        _visionTower = new SiglipVisionTransformer(vb.Sub("vision_tower").Sub("vision_model"), backend, visionConfig with { VisionUseHead = false });
        _multiModalProjector = Linear.Load(vb.Sub("multi_modal_projector").Sub("linear"), backend, visionConfig.HiddenSize, config.ProjectionDim);
        _languageModel = new GemmaForCausalLM(textConfig, vb.Sub("language_model"), backend);
        // `image_features / (self.config.hidden_size ** 0.5)` with the Python double rounded to f32 by the op.
        // https://github.com/huggingface/transformers/blob/v4.46.1/src/transformers/models/paligemma/modeling_paligemma.py#L423
        _imageScale = (float)(1.0 / Math.Sqrt(config.HiddenSize));
        NumImageTokens = (visionConfig.ImageSize / visionConfig.PatchSize) * (visionConfig.ImageSize / visionConfig.PatchSize);
        GenerationDefaults = new GenerationDefaults(config.EosTokenIds, config.PadTokenId);
    }

    public PaliGemmaConfig Config { get; }
    public GemmaConfig TextConfig { get; }
    public SiglipVisionConfig VisionConfig { get; }
    public IBackend Backend { get; }
    public GemmaForCausalLM LanguageModel => _languageModel;
    public SiglipVisionTransformer VisionTower => _visionTower;
    public int VocabSize => TextConfig.VocabSize;
    /// <summary>Image tokens per image, (image_size / patch_size)² (the processor's image_seq_length).</summary>
    public int NumImageTokens { get; }

    /// <summary>eos / pad ids for generate(): generation_config.json when loaded from a folder that has one, else config.json's.</summary>
    public GenerationDefaults GenerationDefaults { get; private set; }

    /// <summary>Loads config.json and the safetensors weights of <paramref name="modelDir"/>; fails on unused weights.</summary>
    public static PaliGemmaForConditionalGeneration Load(string modelDir, IBackend backend)
    {
        var hf = HfConfig.Load(modelDir);
        hf.ExpectModelType("paligemma", "PaliGemma");
        var config = hf.Bind<PaliGemmaConfig>();
        var text = hf.Bind<GemmaConfig>("text_config");
        text.Validate(hf.Source + "#text_config");
        var vision = hf.Bind<SiglipVisionConfig>("vision_config");
        var checkpoint = SafetensorsCheckpoint.Open(modelDir);
        var vb = new VarBuilder(checkpoint);
        var model = new PaliGemmaForConditionalGeneration(config, text, vision, vb, backend);
        vb.ThrowIfUnused(k => text.TieWordEmbeddings && k == "language_model.lm_head.weight");
        model.GenerationDefaults = GenerationDefaults.Load(modelDir, config.EosTokenIds, config.PadTokenId);
        return model;
    }

    /// <summary>pixel_values (B, 3, H, W) → image features (B, N, C): projector(SigLIP last_hidden_state) / sqrt(hidden).
    /// <paramref name="visionHiddenStates"/>, when given, receives the tower's hidden states and its last_hidden_state
    /// (appended last).</summary>
    public Tensor GetImageFeatures(Tensor pixelValues, List<Tensor>? visionHiddenStates = null)
    {
        using var tower = _visionTower.Forward(pixelValues, visionHiddenStates is not null);
        var last = tower.LastHiddenState;                                          // (B, N, Cv)
        if (visionHiddenStates is not null)
        {
            // hand the tower's tensors over: the list now owns them (fresh views, the tower's own are disposed)
            foreach (var h in tower.HiddenStates!) visionHiddenStates.Add(h.Reshape(h.ShapeArray));
            visionHiddenStates.Add(last.Reshape(last.ShapeArray));
        }
        using var projected = _multiModalProjector.Forward(last);                  // (B, N, C)
        return projected.Scale(_imageScale);
    }

    /// <summary>Token embeddings (B, T, C) with the image-token rows replaced by <paramref name="imageFeatures"/> in
    /// row-major order (masked_scatter); the number of image tokens must equal B·N.</summary>
    public Tensor MergeImageFeatures(long[,] inputIds, Tensor imageFeatures)
    {
        int b = inputIds.GetLength(0), t = inputIds.GetLength(1), c = TextConfig.HiddenSize;
        if (imageFeatures.Rank < 2 || imageFeatures.Dim(imageFeatures.Rank - 1) != c)
            throw new ArgumentException(
                $"PaliGemma.MergeImageFeatures: image features must be (B, N, C={c}), got {Tensor.ShapeString(imageFeatures.Shape)}");
        long imageTokens = 0;
        foreach (var id in inputIds) if (id == Config.ImageTokenIndex) imageTokens++;
        long features = imageFeatures.ElementCount / c;
        if (imageTokens != features)
            throw new ArgumentException(
                $"PaliGemma.MergeImageFeatures: image features and image tokens do not match (HF's wording): " +
                $"tokens: {imageTokens} (id {Config.ImageTokenIndex} in input_ids {Tensor.ShapeString([b, t])}), " +
                $"features {features} (rows of {Tensor.ShapeString(imageFeatures.Shape)}); each prompt needs {NumImageTokens} image tokens and one image");
        var embeds = _languageModel.Embed(inputIds);                 // (B, T, C), contiguous
        using var rows = embeds.Reshape(b * t, c);                     // (B·T, C) view
        using var feats = imageFeatures.Reshape(-1, c);                // (B·N, C)
        int k = 0;
        for (int i = 0; i < b * t;)
        {
            if (inputIds[i / t, i % t] != Config.ImageTokenIndex) { i++; continue; }
            int run = 0;
            while (i + run < b * t && inputIds[(i + run) / t, (i + run) % t] == Config.ImageTokenIndex) run++;
            using (var dst = rows.Narrow(0, i, run))
            using (var src = feats.Narrow(0, k, run))
                Backend.CopyInto(dst, src);
            k += run;
            i += run;
        }
        return embeds;
    }

    /// <summary>
    /// HF's forward: <c>model(input_ids, pixel_values, attention_mask, token_type_ids, labels)</c>. Positions are 1..T
    /// for every row. Without labels the whole input is bidirectional (token_type_ids ignored, as in 4.46.1); with
    /// labels and token_type_ids, the training prefix-LM mask and the loss.
    /// </summary>
    public PaliGemmaOutput Forward(long[,] inputIds, Tensor? pixelValues = null, long[,]? attentionMask = null,
        long[,]? tokenTypeIds = null, long[,]? labels = null, bool outputHiddenStates = false)
    {
        int b = inputIds.GetLength(0), t = inputIds.GetLength(1);
        PromptBatch.CheckIds(inputIds, _languageModel.VocabSize, attentionMask);
        CheckSameShape(inputIds, tokenTypeIds, "token_type_ids");
        CheckSameShape(inputIds, labels, "labels");
        bool training = tokenTypeIds is not null && labels is not null;
        Tensor? features = pixelValues is null ? null : GetImageFeatures(pixelValues);
        try
        {
            using var embeds = features is null ? _languageModel.Embed(inputIds) : MergeImageFeatures(inputIds, features);
            using var padding = PromptBatch.KeyPadding(_languageModel.Backend, attentionMask);
            int[]? prefix = null;
            using var additive = training ? PrefixLmAdditive(tokenTypeIds!, attentionMask, out prefix) : null;
            var mask = training
                ? new AttentionMask { Causal = true, PrefixLengths = additive is null ? prefix : null, KeyPadding = additive is null ? padding : null, Additive = additive }
                : new AttentionMask { Causal = false, KeyPadding = padding };
            var hidden = outputHiddenStates ? new List<Tensor>() : null;
            var positions = PromptBatch.Arange(b, t, first: 1);
            using var h = _languageModel.Model.Forward(embeds, positions, mask, cache: null, hidden);
            var logits = _languageModel.LmHead(h);
            float? loss = labels is null ? null : Loss(logits, inputIds, labels, attentionMask);
            return new PaliGemmaOutput(logits, loss, features, hidden);
        }
        catch
        {
            features?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The training mask: causal, every query also sees the token_type 0 columns, padded keys hidden. When the real
    /// type-0 columns form a prefix of each row (the processor's layout, left padding included) this is
    /// <see cref="AttentionMask.PrefixLengths"/> (returns null); otherwise an additive (B, 1, T, T) mask with HF's
    /// float-min entries.
    /// </summary>
    private Tensor? PrefixLmAdditive(long[,] tokenTypeIds, long[,]? attentionMask, out int[] prefix)
    {
        int b = tokenTypeIds.GetLength(0), t = tokenTypeIds.GetLength(1);
        prefix = new int[b];
        bool contiguous = true;
        for (int r = 0; r < b; r++)
        {
            int last = -1;
            for (int j = 0; j < t; j++)
                if (tokenTypeIds[r, j] == 0 && (attentionMask is null || attentionMask[r, j] != 0)) last = j;
            prefix[r] = last + 1;
            for (int j = 0; j < prefix[r]; j++)
                if (tokenTypeIds[r, j] != 0 && (attentionMask is null || attentionMask[r, j] != 0)) contiguous = false;
        }
        if (contiguous) return null;
        var add = new float[b * t * t];
        for (int r = 0; r < b; r++)
            for (int i = 0; i < t; i++)
                for (int j = 0; j < t; j++)
                {
                    bool visible = (j <= i || tokenTypeIds[r, j] == 0) && (attentionMask is null || attentionMask[r, j] != 0);
                    add[((r * t) + i) * t + j] = visible ? 0f : float.MinValue;
                }
        return Backend.FromFloats(add, b, 1, t, t);
    }

    /// <summary>HF's loss: labels equal to pad_token_id where input_ids is pad become -100; shift by one; keep positions
    /// whose next token is attended; mean cross-entropy over labels != -100 (computed in double from the f32 logits).</summary>
    private float Loss(Tensor logits, long[,] inputIds, long[,] labels, long[,]? attentionMask)
    {
        int b = inputIds.GetLength(0), t = inputIds.GetLength(1), v = VocabSize;
        var l = logits.ToFloatArray();
        bool padInLabels = false;
        foreach (var x in labels) padInLabels |= x == Config.PadTokenId;
        double sum = 0;
        long count = 0;
        for (int r = 0; r < b; r++)
            for (int j = 0; j + 1 < t; j++)
            {
                if (attentionMask is not null && attentionMask[r, j + 1] == 0) continue;
                long label = labels[r, j + 1];
                if (padInLabels && inputIds[r, j + 1] == Config.PadTokenId) label = Config.IgnoreIndex;
                if (label == Config.IgnoreIndex) continue;
                if ((ulong)label >= (ulong)v)
                    throw new ArgumentException($"labels[{r}, {j + 1}] = {label} is outside the vocabulary [0, {v}) and is not {Config.IgnoreIndex}");
                var row = l.AsSpan((r * t + j) * v, v);
                double max = double.NegativeInfinity;
                foreach (var x in row) max = Math.Max(max, x);
                double z = 0;
                foreach (var x in row) z += Math.Exp(x - max);
                sum += max + Math.Log(z) - row[(int)label];
                count++;
            }
        return count == 0 ? float.NaN : (float)(sum / count); // torch: mean over zero elements is NaN
    }

    /// <summary>
    /// Prefill as <c>generate()</c> does: image features merged, positions cumsum(mask) (1-based, pads 2), the prompt
    /// bidirectional (minus padding), KV cache sized for <paramref name="maxNewTokens"/> more tokens. Left padding only.
    /// </summary>
    public Prefilled Prefill(long[,] inputIds, long[,]? attentionMask, Tensor pixelValues, int maxNewTokens)
    {
        PromptBatch.CheckIds(inputIds, _languageModel.VocabSize, attentionMask);
        var mask = attentionMask ?? PromptBatch.Ones(inputIds.GetLength(0), inputIds.GetLength(1));
        var positions = PromptBatch.GenerationPositions(mask, firstPosition: 1);
        using var features = GetImageFeatures(pixelValues);
        using var embeds = MergeImageFeatures(inputIds, features);
        return _languageModel.PrefillEmbeds(embeds, mask, positions, causal: false, maxNewTokens);
    }

    /// <summary>Cached decode step: Gemma's, the state carries the 1-based positions.</summary>
    public Tensor DecodeStep(IDecoderState state, ReadOnlySpan<int> tokens) => _languageModel.DecodeStep(state, tokens);

    /// <summary>Prefill + generation loop (B, T) left-padded, pixels (B, 3, H, W).</summary>
    public GenerationResult Generate(long[,] inputIds, long[,]? attentionMask, Tensor pixelValues, GenerationOptions options) =>
        Generator.Generate(this, Prefill(inputIds, attentionMask, pixelValues, options.MaxNewTokens), options);

    /// <summary>Prompts of different lengths (each already laid out by <see cref="PaliGemmaProcessor.BuildInputIds"/>),
    /// left-padded with pad_token_id; one image per prompt.</summary>
    public GenerationResult Generate(IReadOnlyList<IReadOnlyList<int>> prompts, Tensor pixelValues, GenerationOptions options)
    {
        var (ids, mask) = PromptBatch.LeftPad(prompts, Config.PadTokenId);
        return Generate(ids, mask, pixelValues, options);
    }

    /// <summary>Greedy options with the checkpoint's eos and pad ids and the given token budget.</summary>
    public GenerationOptions DefaultOptions(int maxNewTokens) => GenerationDefaults.Options(maxNewTokens);

    private static void CheckSameShape(long[,] ids, long[,]? other, string name)
    {
        if (other is not null && (other.GetLength(0) != ids.GetLength(0) || other.GetLength(1) != ids.GetLength(1)))
            throw new ArgumentException($"{name} is ({other.GetLength(0)}, {other.GetLength(1)}) but input_ids is ({ids.GetLength(0)}, {ids.GetLength(1)})");
    }
}
