// BLIP-2 retrieval (`Blip2ForImageTextRetrieval`, model_type "blip-2": Salesforce/blip2-itm-vit-g): image-text
// matching (ITM) and contrastive similarity (ITC) on top of Blip2.cs's vision tower and Q-Former
// (`Blip2ImageQuerying`). Follows transformers 4.46.1 src/transformers/models/blip_2/modeling_blip_2.py
// (Blip2TextEmbeddings, Blip2ForImageTextRetrieval). Quirks, each once below: the text embeddings have no LayerNorm
// (the Q-Former's layernorm follows); ITM runs the Q-Former on [queries; text] bidirectionally and averages
// itm_head over the query positions; ITC is the max over queries of cos(vision_projection(query output),
// text_projection(text [CLS] output)), with no temperature.
//
// Dimension letters: B batch, P patches + 1, Cv vision width, Q query tokens, T text tokens, C Q-Former width,
// E image_text_hidden_size.
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Nn;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Models;

/// <summary>Top-level `embeddings.*` of Blip2ForImageTextRetrieval (Blip2TextEmbeddings): word + absolute position
/// (0..T-1), no LayerNorm (the Q-Former's layernorm follows), queries concatenated in front when given.</summary>
public sealed class Blip2TextEmbeddings
{
    private readonly Embedding _wordEmbeddings, _positionEmbeddings;

    public Blip2TextEmbeddings(VarBuilder vb, IBackend backend, Blip2QFormerConfig c)
    {
        _wordEmbeddings = Embedding.Load(vb.Sub("word_embeddings"), backend, c.VocabSize, c.HiddenSize);
        _positionEmbeddings = Embedding.Load(vb.Sub("position_embeddings"), backend, c.MaxPositionEmbeddings, c.HiddenSize);
    }

    /// <summary>ids (B, T), queries (B, Q, C) or null → (B, Q + T, C)</summary>
    public Tensor Forward(Tensor ids, Tensor? queries)
    {
        int t = ids.Dim(1);
        if (t > _positionEmbeddings.NumEmbeddings)
            throw new ArgumentException($"Q-Former text: {t} tokens exceed max_position_embeddings {_positionEmbeddings.NumEmbeddings}");
        using var w = _wordEmbeddings.Forward(ids);
        using var p = _positionEmbeddings.Weight.Narrow(0, 0, t);
        var e = w.Add(p);                                                    // (B, T, C)
        if (queries is null) return e;
        using (e) return ids.Backend.Concat([queries, e], 1);
    }
}

/// <summary>Image-text matching of image i with text i: logits (B, 2) and P(match) = softmax(logits)[:, 1].</summary>
public sealed record Blip2MatchScores(float[,] Logits, float[] MatchProbabilities);

/// <summary>`Blip2ForImageTextRetrieval`: vision_model, query_tokens, embeddings, qformer, vision_projection,
/// text_projection, itm_head.</summary>
public sealed class Blip2ForImageTextRetrieval : IDisposable
{
    private readonly SafetensorsCheckpoint? _checkpoint;
    private readonly Blip2TextEmbeddings _embeddings;
    private readonly Linear _visionProjection, _textProjection, _itmHead;

    public Blip2ForImageTextRetrieval(VarBuilder vb, IBackend backend, Blip2Config c, Blip2QFormerConfig qformer, SafetensorsCheckpoint? owned = null)
    {
        if (!qformer.UseQformerTextInput)
            throw new ModelLoadException("Blip2ForImageTextRetrieval needs qformer_config.use_qformer_text_input = true");
        _checkpoint = owned;
        Backend = backend;
        Config = c;
        Front = new Blip2ImageQuerying(vb, backend, c, qformer);
        _embeddings = new Blip2TextEmbeddings(vb.Sub("embeddings"), backend, qformer);
        _visionProjection = Linear.Load(vb.Sub("vision_projection"), backend, qformer.HiddenSize, c.ImageTextHiddenSize);
        _textProjection = Linear.Load(vb.Sub("text_projection"), backend, qformer.HiddenSize, c.ImageTextHiddenSize);
        _itmHead = Linear.Load(vb.Sub("itm_head"), backend, qformer.HiddenSize, 2);
    }

    public Blip2Config Config { get; }
    public IBackend Backend { get; }
    public Blip2ImageQuerying Front { get; }
    public int ImageSize => Config.VisionConfig.ImageSize;
    public int NumQueryTokens => Config.NumQueryTokens;
    /// <summary>Width of one contrastive embedding (image_text_hidden_size).</summary>
    public int EmbeddingDim => Config.ImageTextHiddenSize;

    public static Blip2ForImageTextRetrieval Load(string directory, IBackend backend)
    {
        var hf = HfConfig.Load(directory);
        var (c, qformer) = Blip2ImageQuerying.BindConfig(hf);
        return VarBuilder.Build(directory, (vb, ckpt) => new Blip2ForImageTextRetrieval(vb, backend, c, qformer, ckpt),
            VarBuilder.IsPositionIdsBuffer);
    }

    /// <summary>ITM: Q-Former on [queries; text] (bidirectional, queries cross-attend to the image) → its output
    /// (B, Q + T, C) and itm_head averaged over the query positions (B, 2). Image i is paired with text i.</summary>
    public (Tensor QFormerLastHiddenState, Tensor Logits) Match(Tensor imageEmbeds, Tensor ids, Tensor? attentionMask)
    {
        int b = ids.Dim(0), t = ids.Dim(1), q = NumQueryTokens;
        if (imageEmbeds.Dim(0) != b) throw new ArgumentException($"ITM pairs image i with text i: {imageEmbeds.Dim(0)} images, {b} texts");
        var qt = Front.QueryTokens;
        using var queries = qt.Expand(b, q, qt.Dim(2));
        using var embeds = _embeddings.Forward(ids, queries);               // (B, Q + T, C)
        var maskValues = new long[b * (q + t)];
        var given = attentionMask?.ToInt64Array();
        for (int r = 0; r < b; r++)
            for (int j = 0; j < q + t; j++)
                maskValues[r * (q + t) + j] = j < q ? 1 : given is null ? 1 : given[r * t + j - q];
        using var mask = Backend.FromInt64(maskValues, b, q + t);
        var h = Front.QFormer.Forward(embeds, q, mask, imageEmbeds);
        using var queryOut = h.Narrow(1, 0, q);                              // (B, Q, C)
        using var perQuery = _itmHead.Forward(queryOut);                     // (B, Q, 2)
        using var sum = perQuery.Sum(1);                                     // (B, 2)
        return (h, sum.Scale(1f / q));
    }

    /// <summary>ITC image side: L2-normalised vision_projection of the query outputs (B, Q, E).</summary>
    public Tensor ImageEmbeds(Tensor qformerQueryOutput)
    {
        using var p = _visionProjection.Forward(qformerQueryOutput);
        return p.L2Normalize();
    }

    /// <summary>ITC text side: Q-Former on the text alone (no queries, no cross-attention) → its output (B, T, C) and
    /// the L2-normalised text_projection of position 0 (B, E).</summary>
    public (Tensor QFormerLastHiddenState, Tensor TextEmbeds) TextEmbeds(Tensor ids, Tensor? attentionMask)
    {
        using var embeds = _embeddings.Forward(ids, null);
        var h = Front.QFormer.Forward(embeds, 0, attentionMask, null);
        using var cls = h.Select(1, 0);                                     // (B, C)
        using var p = _textProjection.Forward(cls);
        return (h, p.L2Normalize());
    }

    /// <summary>logits_per_image (I, T) = max over queries of image_embeds (I, Q, E) · text_embeds (T, E)ᵀ.</summary>
    public Tensor LogitsPerImage(Tensor imageEmbeds, Tensor textEmbeds)
    {
        int ni = imageEmbeds.Dim(0), q = imageEmbeds.Dim(1), e = imageEmbeds.Dim(2), nt = textEmbeds.Dim(0);
        using var flat = imageEmbeds.Reshape(ni * q, e);
        using var tt = textEmbeds.Transpose(0, 1);
        using var sims = flat.MatMul(tt);                                    // (I·Q, T)
        var s = sims.ToFloatArray();
        var r = new float[ni * nt];
        for (int i = 0; i < ni; i++)
            for (int t = 0; t < nt; t++)
            {
                float m = float.NegativeInfinity;
                for (int k = 0; k < q; k++) m = MathF.Max(m, s[(i * q + k) * nt + t]);
                r[i * nt + t] = m;
            }
        return Backend.FromFloats(r, ni, nt);
    }

    // ---- host API for the embed / score tasks

    /// <summary>Contrastive image embeddings of <paramref name="batch"/> preprocessed images → (B, Q, E), each query's
    /// vector L2-normalised.</summary>
    public float[,,] EmbedImages(float[] pixelValues, int batch)
    {
        using var px = Pixels(pixelValues, batch);
        using var o = Front.Forward(px);
        using var e = ImageEmbeds(o.QFormerLastHiddenState);
        var flat = e.ToFloatArray();
        var r = new float[batch, e.Dim(1), e.Dim(2)];
        Buffer.BlockCopy(flat, 0, r, 0, flat.Length * sizeof(float));
        return r;
    }

    /// <summary>Contrastive text embeddings of BERT-tokenized texts ([CLS] … [SEP], right-padded) → (T, E), L2-normalised.</summary>
    public float[,] EmbedTexts(long[,] ids, long[,]? attentionMask = null)
    {
        using var idsT = ContrastiveHelpers.Ids(Backend, ids);
        using var maskT = attentionMask is null ? null : ContrastiveHelpers.Ids(Backend, attentionMask);
        var (h, e) = TextEmbeds(idsT, maskT);
        using (h)
        using (e)
            return e.ToFloat2D();
    }

    /// <summary>ITC similarity (I, T): max over the image's queries of the cosine with the text (HF's logits_per_image;
    /// no temperature).</summary>
    public static float[,] Similarity(float[,,] imageEmbeds, float[,] textEmbeds)
    {
        int ni = imageEmbeds.GetLength(0), q = imageEmbeds.GetLength(1), e = imageEmbeds.GetLength(2), nt = textEmbeds.GetLength(0);
        if (textEmbeds.GetLength(1) != e)
            throw new ArgumentException($"Similarity: image embeddings have {e} dims, text embeddings {textEmbeds.GetLength(1)}");
        var r = new float[ni, nt];
        for (int i = 0; i < ni; i++)
            for (int t = 0; t < nt; t++)
            {
                float best = float.NegativeInfinity;
                for (int k = 0; k < q; k++)
                {
                    float dot = 0;
                    for (int x = 0; x < e; x++) dot += imageEmbeds[i, k, x] * textEmbeds[t, x];
                    best = MathF.Max(best, dot);
                }
                r[i, t] = best;
            }
        return r;
    }

    /// <summary>ITM for pairs (image i, text i): logits (B, 2) and the match probability softmax(logits)[:, 1].</summary>
    public Blip2MatchScores MatchScores(float[] pixelValues, int batch, long[,] ids, long[,]? attentionMask = null)
    {
        if (ids.GetLength(0) != batch) throw new ArgumentException($"MatchScores pairs image i with text i: {batch} images, {ids.GetLength(0)} texts");
        using var px = Pixels(pixelValues, batch);
        using var vision = Front.VisionModel.Forward(px);
        using var idsT = ContrastiveHelpers.Ids(Backend, ids);
        using var maskT = attentionMask is null ? null : ContrastiveHelpers.Ids(Backend, attentionMask);
        var (h, logits) = Match(vision.LastHiddenState, idsT, maskT);
        using (h)
        using (logits)
        {
            var l = logits.ToFloat2D();
            var p = new float[batch];
            for (int i = 0; i < batch; i++)
            {
                float m = MathF.Max(l[i, 0], l[i, 1]);
                double e0 = Math.Exp(l[i, 0] - m), e1 = Math.Exp(l[i, 1] - m);
                p[i] = (float)(e1 / (e0 + e1));
            }
            return new Blip2MatchScores(l, p);
        }
    }

    /// <summary>ITM for every (image, text) pair — what the `score` task needs: the vision tower runs once per image,
    /// the Q-Former once per pair. logits[i, t] = the 'match' logit minus the 'no match' logit (so that
    /// sigmoid(logit) = P(match)); probabilities[i, t] = P(match) = softmax(itm logits)[1].</summary>
    public ImageTextScores MatchAllPairs(float[] pixelValues, int batch, long[,] ids, long[,]? attentionMask = null)
    {
        int nt = ids.GetLength(0);
        using var px = Pixels(pixelValues, batch);
        using var vision = Front.VisionModel.Forward(px);
        using var idsT = ContrastiveHelpers.Ids(Backend, ids);
        using var maskT = attentionMask is null ? null : ContrastiveHelpers.Ids(Backend, attentionMask);
        var logits = new float[batch, nt];
        var probs = new float[batch, nt];
        var last = vision.LastHiddenState;                                   // (I, P, Cv)
        for (int i = 0; i < batch; i++)
        {
            using var one = last.Narrow(0, i, 1);
            using var image = one.Expand(nt, last.Dim(1), last.Dim(2));       // (T, P, Cv), no copy
            var (h, l) = Match(image, idsT, maskT);
            using (h)
            using (l)
            {
                var v = l.ToFloat2D();
                for (int t = 0; t < nt; t++)
                {
                    float d = v[t, 1] - v[t, 0];
                    logits[i, t] = d;
                    probs[i, t] = (float)(1.0 / (1.0 + Math.Exp(-d)));
                }
            }
        }
        return new ImageTextScores(logits, probs);
    }

    private Tensor Pixels(float[] pixelValues, int batch)
    {
        int s = ImageSize;
        if (batch <= 0 || pixelValues.Length != (long)batch * 3 * s * s)
            throw new ArgumentException($"BLIP-2: {pixelValues.Length} values is not {batch} images of 3x{s}x{s}");
        return Backend.FromFloats(pixelValues, batch, 3, s, s);
    }

    public void Dispose() => _checkpoint?.Dispose();
}
