// The `caption` task: PaliGemma generation per image (captions, VQA, OCR, detection) through the shard pipeline.
// Prepare decodes and preprocesses an image exactly as the checkpoint's SiglipImageProcessor does; RunBatch lays out
// the prompts as PaliGemmaProcessor does (`<image>` × N + bos + prompt + "\n"), left-pads them, and runs batched
// generation with a KV cache (BatchVlm.Engine.Generation). `detect` outputs are parsed from `<locNNNN>` tokens into
// labelled boxes in the original image's pixels. Needs the table of migration NNNN_caption_results.sql
// (job_id, item_key, prompt) — see CaptionTask.TableDdl.
// Parameters (JSON object, all optional):
//   prompt          "caption en" (default) | "describe <lang>" | "answer <lang> <question>" | "answer <lang>" with
//                   per-item questions | "ocr" | "detect <a> ; <b>" | "segment <a>"
//   max_new_tokens  32 (1..1024)         num_beams 1 (beam search when > 1)       batch_size 4 (1..64)
//   questions       {"item key": "question", ...}: appended to an "answer <lang>" prompt per item
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Models;
using BatchVlm.Imaging;
using BatchVlm.Imaging.Processing;
using BatchVlm.Storage.Postgres;
using BatchVlm.Tokenizers;
using NpgsqlTypes;

namespace BatchVlm.Worker.Tasks;

/// <summary>One caption result (caption_results row).</summary>
/// <param name="Boxes">detect prompts: JSON array of {label, x_min, y_min, x_max, y_max} in original-image pixels</param>
/// <param name="FinishReason">eos | length</param>
/// <param name="PrefillMs">the batch's image + prompt prefill time; DecodeMs the batch's generation loop</param>
public sealed record CaptionResult(
    string ItemKey,
    string Prompt,
    string Text,
    int TokenCount,
    string FinishReason,
    string? Boxes,
    int ImageWidth,
    int ImageHeight,
    int BatchSize,
    double PrefillMs,
    double DecodeMs) : IResultRow;

/// <summary>Validated caption parameters.</summary>
public sealed record CaptionParameters
{
    public string Prompt { get; init; } = "caption en";
    public int MaxNewTokens { get; init; } = 32;
    public int NumBeams { get; init; } = 1;
    public int BatchSize { get; init; } = 4;
    public Dictionary<string, string>? Questions { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Parses and checks the job parameters; throws ArgumentException naming the bad field.</summary>
    public static CaptionParameters Parse(string? parametersJson)
    {
        CaptionParameters p;
        try
        {
            p = string.IsNullOrWhiteSpace(parametersJson) ? new() : JsonSerializer.Deserialize<CaptionParameters>(parametersJson, Json) ?? new();
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"caption parameters: {e.Message} (known: prompt, max_new_tokens, num_beams, batch_size, questions)", e);
        }
        if (p.MaxNewTokens is < 1 or > 1024) throw new ArgumentException($"caption parameter max_new_tokens must be 1..1024, got {p.MaxNewTokens}");
        if (p.NumBeams is < 1 or > 16) throw new ArgumentException($"caption parameter num_beams must be 1..16, got {p.NumBeams}");
        if (p.BatchSize is < 1 or > 64) throw new ArgumentException($"caption parameter batch_size must be 1..64, got {p.BatchSize}");
        var words = (p.Prompt ?? "").Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string kind = words.Length > 0 ? words[0] : "";
        switch (kind)
        {
            case "caption" or "describe" when words.Length == 2:
            case "ocr" when words.Length == 1:
            case "detect" or "segment" when words.Length > 1:
                break;
            case "answer" or "question" when words.Length > 2 || (words.Length == 2 && p.Questions is { Count: > 0 }):
                break;
            default:
                throw new ArgumentException(
                    $"caption parameter prompt '{p.Prompt}' is not one of: 'caption <lang>', 'describe <lang>', 'answer <lang> <question>' (or 'answer <lang>' with questions), 'ocr', 'detect <a> ; <b>', 'segment <a>'");
        }
        return p with { Prompt = string.Join(' ', words) };
    }

    /// <summary>The prompt for one item: the job prompt, plus the item's question for "answer &lt;lang&gt;".</summary>
    public string PromptFor(string itemKey)
    {
        var words = Prompt.Split(' ');
        if (words[0] is "answer" or "question" && words.Length == 2)
            return Questions is not null && Questions.TryGetValue(itemKey, out var q) && !string.IsNullOrWhiteSpace(q)
                ? $"{Prompt} {q.Trim()}"
                : throw new ItemFailedException("no_question", $"prompt '{Prompt}' needs a question for item '{itemKey}' and the job's questions have none");
        return Prompt;
    }
}

public sealed class CaptionTask : IShardTask
{
    public const string TaskName = "caption";

    public static readonly ResultTable<CaptionResult> Table = new("caption_results", ["prompt"],
        ResultColumn<CaptionResult>.Of("prompt", NpgsqlDbType.Text, r => r.Prompt),
        ResultColumn<CaptionResult>.Of("text", NpgsqlDbType.Text, r => r.Text),
        ResultColumn<CaptionResult>.Of("token_count", NpgsqlDbType.Integer, r => r.TokenCount),
        ResultColumn<CaptionResult>.Of("finish_reason", NpgsqlDbType.Text, r => r.FinishReason),
        ResultColumn<CaptionResult>.Of("boxes", NpgsqlDbType.Jsonb, r => r.Boxes),
        ResultColumn<CaptionResult>.Of("image_width", NpgsqlDbType.Integer, r => r.ImageWidth),
        ResultColumn<CaptionResult>.Of("image_height", NpgsqlDbType.Integer, r => r.ImageHeight),
        ResultColumn<CaptionResult>.Of("batch_size", NpgsqlDbType.Integer, r => r.BatchSize),
        ResultColumn<CaptionResult>.Of("prefill_ms", NpgsqlDbType.Double, r => r.PrefillMs),
        ResultColumn<CaptionResult>.Of("decode_ms", NpgsqlDbType.Double, r => r.DecodeMs));

    /// <summary>The table this task writes (for the storage migration).</summary>
    public const string TableDdl = """
        CREATE TABLE caption_results (
            job_id        uuid             NOT NULL REFERENCES jobs ON DELETE CASCADE,
            item_key      text             NOT NULL,
            shard_index   integer          NOT NULL,
            attempt       integer          NOT NULL,
            prompt        text             NOT NULL,
            text          text             NOT NULL,
            token_count   integer          NOT NULL,
            finish_reason text             NOT NULL,   -- eos | length
            boxes         jsonb,                       -- detect: [{label, x_min, y_min, x_max, y_max}] in image pixels
            image_width   integer          NOT NULL,
            image_height  integer          NOT NULL,
            batch_size    integer          NOT NULL,
            prefill_ms    double precision NOT NULL,
            decode_ms     double precision NOT NULL,
            created_at    timestamptz      NOT NULL DEFAULT now(),
            PRIMARY KEY (job_id, item_key, prompt)
        );
        """;

    // One loaded model per model id per worker process (models are GBs; sessions share them).
    private static readonly ConcurrentDictionary<string, Lazy<LoadedModel>> Models = new(StringComparer.Ordinal);

    public string Name => TaskName;
    public bool RequiresModel => true;

    /// <summary>50 items: a CPU caption of a 224-px PaliGemma-3B is tens of seconds, a GPU one well under a second.</summary>
    public int DefaultShardSize => 50;

    public ResultTable ResultTable => Table;

    public void ValidateParameters(string model, string parametersJson)
    {
        if (string.IsNullOrWhiteSpace(model)) throw new ArgumentException("caption needs a model (a PaliGemma folder or hub id)");
        CaptionParameters.Parse(parametersJson);
    }

    public ValueTask<IShardTaskSession> OpenAsync(TaskRequest request, CancellationToken ct)
    {
        var parameters = CaptionParameters.Parse(request.ParametersJson);
        var lazy = Models.GetOrAdd(request.Model, id => new Lazy<LoadedModel>(() => LoadedModel.Load(id), LazyThreadSafetyMode.ExecutionAndPublication));
        LoadedModel loaded;
        try
        {
            loaded = lazy.Value;
        }
        catch
        {
            Models.TryRemove(request.Model, out _); // a transient hub failure must not stick
            throw;
        }
        return ValueTask.FromResult<IShardTaskSession>(new Session(loaded, parameters));
    }

    /// <summary>A PaliGemma checkpoint with its tokenizer and image processor.</summary>
    public sealed class LoadedModel
    {
        public required PaliGemmaForConditionalGeneration Model { get; init; }
        public required Tokenizer Tokenizer { get; init; }
        public required ImageProcessor Processor { get; init; }

        public static LoadedModel Load(string modelId)
        {
            var source = ModelSource.Resolve(modelId);
            var model = PaliGemmaForConditionalGeneration.Load(source.Directory, CpuBackend.Default);
            var tokenizer = Tokenizer.FromFile(source.Directory);
            var processor = File.Exists(Path.Combine(source.Directory, "preprocessor_config.json"))
                ? ImageProcessor.FromConfig(source.Directory)
                : ImageProcessor.FromConfig(DefaultProcessorJson(model.VisionConfig.ImageSize));
            if (processor.FixedOutputSize is not { } size || size.Height != model.VisionConfig.ImageSize || size.Width != model.VisionConfig.ImageSize)
                throw new ModelLoadException(
                    $"{source.Directory}: the image processor outputs {processor.FixedOutputSize?.ToString() ?? "a variable size"}, the vision tower wants {model.VisionConfig.ImageSize}x{model.VisionConfig.ImageSize}");
            return new LoadedModel { Model = model, Tokenizer = tokenizer, Processor = processor };
        }

        /// <summary>PaliGemma's processor settings (SiglipImageProcessor: bicubic resize to the tower's size, x/255,
        /// mean = std = 0.5), for checkpoints that ship no preprocessor_config.json.</summary>
        public static string DefaultProcessorJson(int size) =>
            $$"""{"image_processor_type": "SiglipImageProcessor", "do_resize": true, "size": {"height": {{size}}, "width": {{size}}}, "resample": 3, "do_rescale": true, "rescale_factor": 0.00392156862745098, "do_normalize": true, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "do_convert_rgb": true}""";

        /// <summary>Input ids of one prompt: image tokens, bos, then `prompt + "\n"` tokenized without special tokens.</summary>
        public int[] PromptIds(string prompt)
        {
            var tail = Tokenizer.Encode(prompt + "\n", addSpecialTokens: false);
            return PaliGemmaProcessor.BuildInputIds(tail, Model.NumImageTokens, Model.Config.ImageTokenIndex, Model.Config.BosTokenId);
        }
    }

    private sealed record Prepared(float[] Pixels, int Width, int Height, string Prompt);

    private sealed class Session(LoadedModel loaded, CaptionParameters parameters) : IShardTaskSession
    {
        public int BatchSize => parameters.BatchSize;

        public PreparedItem Prepare(FetchedItem item, CancellationToken ct)
        {
            string prompt = parameters.PromptFor(item.Key);
            var info = ImageDecoder.Probe(item.Bytes);
            var (w, h) = loaded.Processor.Options.Decode.ApplyExifOrientation ? info.OrientedSize : (info.Width, info.Height);
            var pixels = loaded.Processor.Preprocess(item.Bytes);
            return new PreparedItem(item.Key, new Prepared(pixels, w, h, prompt));
        }

        public ValueTask<BatchOutput> RunBatchAsync(IReadOnlyList<PreparedItem> batch, CancellationToken ct)
        {
            ct.ThrowIfCancellationRequested();
            var model = loaded.Model;
            int b = batch.Count, size = model.VisionConfig.ImageSize, plane = 3 * size * size;
            var items = batch.Select(p => (p.Key, (Prepared)p.Value)).ToList();
            var pixels = new float[b * plane];
            for (int i = 0; i < b; i++) items[i].Item2.Pixels.CopyTo(pixels, i * plane);
            var prompts = items.Select(x => (IReadOnlyList<int>)loaded.PromptIds(x.Item2.Prompt)).ToList();
            var options = model.DefaultOptions(parameters.MaxNewTokens) with { NumBeams = parameters.NumBeams };
            var (ids, mask) = GemmaForCausalLM.LeftPad(prompts, model.Config.PadTokenId);
            using var px = model.Backend.FromFloats(pixels, b, 3, size, size);
            var clock = Stopwatch.StartNew();
            var prefilled = model.Prefill(ids, mask, px, options.MaxNewTokens);
            double prefillMs = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            var result = Generator.Generate(model, prefilled, options);
            double decodeMs = clock.Elapsed.TotalMilliseconds;
            var eos = new HashSet<int>(options.EosTokenIds);
            var rows = new List<IResultRow>(b);
            for (int i = 0; i < b; i++)
            {
                var (key, prep) = items[i];
                var seq = result.Sequences[i];
                var tokens = seq.Tokens.Where(t => !eos.Contains(t)).ToList();
                string text = loaded.Tokenizer.Decode(tokens, skipSpecialTokens: true);
                string? boxes = prep.Prompt.StartsWith("detect ", StringComparison.Ordinal)
                    ? JsonSerializer.Serialize(PaliGemmaDetection.Parse(text, prep.Width, prep.Height)
                        .Select(x => new { label = x.Label, x_min = x.XMin, y_min = x.YMin, x_max = x.XMax, y_max = x.YMax }))
                    : null;
                rows.Add(new CaptionResult(key, prep.Prompt, text, seq.Tokens.Count,
                    seq.Finish == FinishReason.Eos ? "eos" : "length", boxes, prep.Width, prep.Height, b,
                    Math.Round(prefillMs, 3), Math.Round(decodeMs, 3)));
            }
            return ValueTask.FromResult(BatchOutput.Of(rows));
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
