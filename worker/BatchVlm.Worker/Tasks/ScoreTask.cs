// The `score` task: every image against the job's list of texts, one score_results row per (item, text) with the raw
// logit kept: SigLIP — sigmoid(logit) per pair; CLIP / AltCLIP — softmax over the texts (an item's probabilities sum
// to 1); BLIP-2 — "itm" (default): the image-text matching head's P(match) per pair, logit = the match logit as
// MatchAllPairs returns it; "itc": contrastive similarity (max over the image's queries of the cosine with the text,
// HF's logits_per_image) as logit, probability null (ITC has no calibrated probability).
// The texts are encoded and (except BLIP-2 ITM, which attends to them with the image) embedded once per session.
// Parameters (JSON object): texts [..] (required, ≤ 10000), batch_size 16, blip2_score "itm" | "itc",
// shrink_on_load "off" | "on" | "draft" (TaskParameters).
using BatchVlm.Engine.Models;
using BatchVlm.Imaging.Processing;
using BatchVlm.Storage.Postgres;
using BatchVlm.Worker.Models;
using NpgsqlTypes;

namespace BatchVlm.Worker.Tasks;

/// <summary>One score (score_results row, keyed (job_id, item_key, text_index)).</summary>
/// <param name="ScoreKind">sigmoid | softmax_over_texts | blip2_itm | blip2_itc</param>
/// <param name="Probability">null for blip2_itc</param>
public sealed record ScoreResult(string ItemKey, int TextIndex, string Text, double Logit, double? Probability, string ScoreKind) : IResultRow;

public sealed record ScoreParameters
{
    public List<string>? Texts { get; init; }
    public int BatchSize { get; init; } = 16;
    public string Blip2Score { get; init; } = "itm";
    public string ShrinkOnLoad { get; init; } = "off";

    public static ScoreParameters Parse(string? parametersJson)
    {
        var p = TaskParameters.Parse<ScoreParameters>(ScoreTask.TaskName, parametersJson, "texts, batch_size, blip2_score, shrink_on_load");
        TaskParameters.CheckTexts(ScoreTask.TaskName, p.Texts, required: true);
        TaskParameters.CheckBatchSize(ScoreTask.TaskName, p.BatchSize);
        TaskParameters.CheckShrinkOnLoad(ScoreTask.TaskName, p.ShrinkOnLoad);
        if (p.Blip2Score is not ("itm" or "itc"))
            throw new ArgumentException($"score parameter blip2_score must be itm or itc, got '{p.Blip2Score}'");
        return p;
    }
}

public sealed class ScoreTask : IShardTask
{
    public const string TaskName = "score";

    public static readonly ResultTable<ScoreResult> Table = new("score_results", ["text_index"],
        ResultColumn<ScoreResult>.Of("text_index", NpgsqlDbType.Integer, r => r.TextIndex),
        ResultColumn<ScoreResult>.Of("text", NpgsqlDbType.Text, r => r.Text),
        ResultColumn<ScoreResult>.Of("logit", NpgsqlDbType.Double, r => r.Logit),
        ResultColumn<ScoreResult>.Of("probability", NpgsqlDbType.Double, r => r.Probability),
        ResultColumn<ScoreResult>.Of("score_kind", NpgsqlDbType.Text, r => r.ScoreKind));

    public string Name => TaskName;
    public bool RequiresModel => true;

    /// <summary>500 items: rows per shard = items × texts, written in one COPY.</summary>
    public int DefaultShardSize => 500;

    public ResultTable ResultTable => Table;

    public void ValidateParameters(string model, string parametersJson)
    {
        if (string.IsNullOrWhiteSpace(model)) throw new ArgumentException("score needs a model (a SigLIP, CLIP, AltCLIP or BLIP-2 folder or hub id)");
        ScoreParameters.Parse(parametersJson);
    }

    public ValueTask<IShardTaskSession> OpenAsync(TaskRequest request, CancellationToken ct)
    {
        var p = ScoreParameters.Parse(request.ParametersJson);
        var model = ContrastiveModel.Get(request.Model);
        var (ids, mask) = model.EncodeTexts(p.Texts!);
        float[,]? textEmbeds = null;
        if (model.ImageText is { } m)
            textEmbeds = m.EmbedTexts(ids, mask);
        else if (p.Blip2Score == "itc")
            textEmbeds = model.Blip2!.EmbedTexts(ids, mask);
        return ValueTask.FromResult<IShardTaskSession>(new Session(model, p, ids, mask, textEmbeds));
    }

    private sealed record Pixels(float[] Values);

    private sealed class Session(ContrastiveModel model, ScoreParameters p, long[,] ids, long[,]? mask, float[,]? textEmbeds) : IShardTaskSession
    {
        private readonly ImageProcessor _processor = TaskParameters.WithShrinkOnLoad(model.Processor, p.ShrinkOnLoad);

        public int BatchSize => p.BatchSize;

        public PreparedItem Prepare(FetchedItem item, CancellationToken ct) =>
            new(item.Key, new Pixels(_processor.Preprocess(item.Bytes)));

        public ValueTask<BatchOutput> RunBatchAsync(IReadOnlyList<PreparedItem> batch, CancellationToken ct)
        {
            ct.ThrowIfCancellationRequested();
            var pixels = TaskParameters.Stack(batch.Select(b => ((Pixels)b.Value).Values).ToList());
            int n = batch.Count;
            float[,] logits;
            float[,]? probs;
            string kind;
            if (model.ImageText is { } m)
            {
                var scores = m.Score(m.EmbedImages(pixels, n), textEmbeds!);
                (logits, probs) = (scores.Logits, scores.Probabilities);
                kind = m.ScoreKind == ScoreKind.Sigmoid ? "sigmoid" : "softmax_over_texts";
            }
            else if (p.Blip2Score == "itm")
            {
                var scores = model.Blip2!.MatchAllPairs(pixels, n, ids, mask);
                (logits, probs, kind) = (scores.Logits, scores.Probabilities, "blip2_itm");
            }
            else
            {
                logits = Blip2ForImageTextRetrieval.Similarity(model.Blip2!.EmbedImages(pixels, n), textEmbeds!);
                (probs, kind) = (null, "blip2_itc");
            }
            var rows = new List<IResultRow>(n * p.Texts!.Count);
            for (int i = 0; i < n; i++)
                for (int t = 0; t < p.Texts.Count; t++)
                    rows.Add(new ScoreResult(batch[i].Key, t, p.Texts[t], logits[i, t], probs is null ? null : probs[i, t], kind));
            return ValueTask.FromResult(BatchOutput.Of(rows));
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
