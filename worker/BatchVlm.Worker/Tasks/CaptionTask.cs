// The `caption` task: generation per image through the shard pipeline, dispatching on the model's config.json
// model_type:
//   paligemma — captions, VQA, OCR, detection. Prepare decodes and preprocesses an image exactly as the checkpoint's
//     SiglipImageProcessor does; RunBatch lays out the prompts as PaliGemmaProcessor does (`<image>` × N + bos +
//     prompt + "\n"), left-pads them, and runs batched generation with a KV cache (BatchVlm.Engine.Generation).
//     `detect` outputs are parsed from `<locNNNN>` tokens into labelled boxes in the original image's pixels.
//   blip-2 (OPT or Flan-T5 language model) — a plain caption, or a free-text prompt such as "Question: … Answer:"
//     laid out as Blip2Processor does (query tokens + the tokenizer's ids: OPT starts with bos, T5 ends with eos).
// Results: caption_results (Migrations/0006_caption_results.sql), keyed (job_id, item_key, prompt).
// Parameters (JSON object, all optional):
//   prompt          PaliGemma: "caption en" (default) | "describe <lang>" | "answer <lang> <question>" | "answer <lang>"
//                   with per-item questions | "ocr" | "detect <a> ; <b>" | "segment <a>".
//                   BLIP-2: none (default, plain caption) or any text; "{question}" in it takes the item's question.
//   max_new_tokens  32 (1..1024)         num_beams 1 (beam search when > 1)       batch_size 4 (1..64)
//   questions       {"item key": "question", ...}: per-item questions (PaliGemma "answer <lang>", BLIP-2 "{question}")
//   shrink_on_load  off (default) | on | draft: JPEG shrink-on-load before the exact resize (TaskParameters)
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Generation;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Models;
using BatchVlm.Engine.Tensors;
using BatchVlm.Imaging;
using BatchVlm.Imaging.Processing;
using BatchVlm.Storage.Postgres;
using BatchVlm.Tokenizers;
using BatchVlm.Worker.Models;
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
    /// <summary>Null: the family's default (PaliGemma "caption en", BLIP-2 a plain caption).</summary>
    public string? Prompt { get; init; }
    public int MaxNewTokens { get; init; } = 32;
    public int NumBeams { get; init; } = 1;
    public int BatchSize { get; init; } = 4;
    public Dictionary<string, string>? Questions { get; init; }
    public string ShrinkOnLoad { get; init; } = "off";

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Parses and checks the job parameters for a model family ("paligemma", "blip-2", or null when not
    /// known yet: the prompt is then checked when a worker opens the model); throws ArgumentException naming the
    /// bad field.</summary>
    public static CaptionParameters Parse(string? parametersJson, string? family = "paligemma")
    {
        CaptionParameters p;
        try
        {
            p = string.IsNullOrWhiteSpace(parametersJson) ? new() : JsonSerializer.Deserialize<CaptionParameters>(parametersJson, Json) ?? new();
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"caption parameters: {e.Message} (known: prompt, max_new_tokens, num_beams, batch_size, questions, shrink_on_load)", e);
        }
        if (p.MaxNewTokens is < 1 or > 1024) throw new ArgumentException($"caption parameter max_new_tokens must be 1..1024, got {p.MaxNewTokens}");
        if (p.NumBeams is < 1 or > 16) throw new ArgumentException($"caption parameter num_beams must be 1..16, got {p.NumBeams}");
        if (p.BatchSize is < 1 or > 64) throw new ArgumentException($"caption parameter batch_size must be 1..64, got {p.BatchSize}");
        TaskParameters.CheckShrinkOnLoad("caption", p.ShrinkOnLoad);
        if (family is not ("paligemma" or "blip-2" or null))
            throw new ArgumentException($"caption: model_type '{family}' cannot caption (caption takes paligemma and blip-2 checkpoints)");
        if (family == "blip-2" || (family is null && p.Prompt is { } free && free.Contains("{question}", StringComparison.Ordinal)))
        {
            var text = p.Prompt?.Trim() ?? "";
            if (text.Contains("{question}", StringComparison.Ordinal) && p.Questions is not { Count: > 0 })
                throw new ArgumentException("caption parameter prompt contains {question} but the job has no questions");
            return p with { Prompt = text };
        }
        if (family is null)
            return p;
        var words = (p.Prompt ?? "caption en").Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
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

    /// <summary>The prompt for one item: the job prompt, plus the item's question for "answer &lt;lang&gt;"
    /// (PaliGemma) or in place of "{question}" (BLIP-2). Call on parameters parsed for the model's family.</summary>
    public string PromptFor(string itemKey)
    {
        var prompt = Prompt ?? "";
        if (prompt.Contains("{question}", StringComparison.Ordinal))
            return prompt.Replace("{question}", QuestionFor(itemKey, prompt), StringComparison.Ordinal);
        var words = prompt.Split(' ');
        if (words[0] is "answer" or "question" && words.Length == 2)
            return $"{prompt} {QuestionFor(itemKey, prompt)}";
        return prompt;
    }

    private string QuestionFor(string itemKey, string prompt) =>
        Questions is not null && Questions.TryGetValue(itemKey, out var q) && !string.IsNullOrWhiteSpace(q)
            ? q.Trim().ReplaceLineEndings(" ")
            : throw new ItemFailedException("no_question", $"prompt '{prompt}' needs a question for item '{itemKey}' and the job's questions have none");
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

    public string Name => TaskName;
    public bool RequiresModel => true;

    /// <summary>50 items: a CPU caption of a 224-px PaliGemma-3B is tens of seconds, a GPU one well under a second.</summary>
    public int DefaultShardSize => 50;

    public ResultTable ResultTable => Table;

    public void ValidateParameters(string model, string parametersJson)
    {
        if (string.IsNullOrWhiteSpace(model)) throw new ArgumentException("caption needs a model (a PaliGemma or BLIP-2 folder or hub id)");
        CaptionParameters.Parse(parametersJson, ModelFolders.TryLocalModelType(model));
    }

    public ValueTask<IShardTaskSession> OpenAsync(TaskRequest request, CancellationToken ct)
    {
        var loaded = ModelCache.Get("caption", request.Model, LoadedModel.Load);
        var parameters = CaptionParameters.Parse(request.ParametersJson, loaded.Family);
        return ValueTask.FromResult<IShardTaskSession>(new Session(loaded, parameters));
    }

    /// <summary>A PaliGemma or BLIP-2 (OPT / Flan-T5) checkpoint with its tokenizer and image processor.</summary>
    public sealed class LoadedModel
    {
        /// <summary>config.json model_type: paligemma or blip-2.</summary>
        public required string Family { get; init; }
        public PaliGemmaForConditionalGeneration? PaliGemma { get; init; }
        public Blip2ForConditionalGeneration? Blip2 { get; init; }
        public required Tokenizer Tokenizer { get; init; }
        public required ImageProcessor Processor { get; init; }
        public required int ImageSize { get; init; }
        public required int VocabSize { get; init; }

        /// <summary>The PaliGemma model (throws for BLIP-2).</summary>
        public PaliGemmaForConditionalGeneration Model => PaliGemma ?? throw new InvalidOperationException("not a PaliGemma model");

        public static LoadedModel Load(string modelId)
        {
            var dir = ModelFolders.Resolve(modelId);
            var family = ModelFolders.ModelType(ModelFolders.Config(dir));
            Tokenizer tokenizer;
            try
            {
                tokenizer = Tokenizer.FromFile(dir);
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or InvalidOperationException or TokenizerFormatException)
            {
                throw new ModelLoadException($"{dir}: no usable tokenizer ({ex.Message})");
            }
            switch (family)
            {
                case "paligemma":
                {
                    var model = PaliGemmaForConditionalGeneration.Load(dir, CpuBackend.Default);
                    int size = model.VisionConfig.ImageSize;
                    return new LoadedModel
                    {
                        Family = family, PaliGemma = model, Tokenizer = tokenizer, ImageSize = size,
                        Processor = ModelFolders.Processor(dir, DefaultProcessorJson(size), size),
                        VocabSize = ModelFolders.Int(ModelFolders.Config(dir), "text_config.vocab_size", int.MaxValue),
                    };
                }
                case "blip-2":
                {
                    var model = Blip2ForConditionalGeneration.Load(dir, CpuBackend.Default);
                    return new LoadedModel
                    {
                        Family = family, Blip2 = model, Tokenizer = tokenizer, ImageSize = model.ImageSize,
                        Processor = ModelFolders.Processor(dir, ModelFolders.BlipDefaults(model.ImageSize), model.ImageSize),
                        VocabSize = model.VocabSize,
                    };
                }
                default:
                    throw new ModelLoadException($"{dir}: model_type '{family}' cannot caption (caption takes paligemma and blip-2 checkpoints)");
            }
        }

        /// <summary>PaliGemma's processor settings (SiglipImageProcessor: bicubic resize to the tower's size, x/255,
        /// mean = std = 0.5), for checkpoints that ship no preprocessor_config.json.</summary>
        public static string DefaultProcessorJson(int size) =>
            $$"""{"image_processor_type": "SiglipImageProcessor", "do_resize": true, "size": {"height": {{size}}, "width": {{size}}}, "resample": 3, "do_rescale": true, "rescale_factor": 0.00392156862745098, "do_normalize": true, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "do_convert_rgb": true}""";

        /// <summary>PaliGemma: input ids of one prompt: image tokens, bos, then `prompt + "\n"` tokenized without
        /// special tokens. BLIP-2: the tokenizer's ids of the prompt (null for a plain caption).</summary>
        public int[]? PromptIds(string prompt)
        {
            if (Blip2 is not null && prompt.Length == 0)
                return null;
            var ids = Blip2 is not null ? Tokenizer.Encode(prompt) : Tokenizer.Encode(prompt + "\n", addSpecialTokens: false);
            foreach (var id in ids)
            {
                if (id < 0 || id >= VocabSize)
                    throw new ArgumentException($"caption prompt '{prompt}' has token id {id}, outside the model's vocab_size {VocabSize} (tokenizer and model do not match)");
            }
            return Blip2 is not null ? ids
                : PaliGemmaProcessor.BuildInputIds(ids, Model.NumImageTokens, Model.Config.ImageTokenIndex, Model.Config.BosTokenId);
        }
    }

    private sealed record Prepared(float[] Pixels, int Width, int Height, string Prompt);

    private sealed class Session(LoadedModel loaded, CaptionParameters parameters) : IShardTaskSession
    {
        private readonly ImageProcessor _processor = TaskParameters.WithShrinkOnLoad(loaded.Processor, parameters.ShrinkOnLoad);

        public int BatchSize => parameters.BatchSize;

        public PreparedItem Prepare(FetchedItem item, CancellationToken ct)
        {
            string prompt = parameters.PromptFor(item.Key);
            try
            {
                _ = loaded.PromptIds(prompt);
            }
            catch (ArgumentException e)
            {
                throw new ItemFailedException("bad_prompt", e.Message, e);
            }
            var info = ImageDecoder.Probe(item.Bytes);
            var (w, h) = loaded.Processor.Options.Decode.ApplyExifOrientation ? info.OrientedSize : (info.Width, info.Height);
            var pixels = _processor.Preprocess(item.Bytes);
            return new PreparedItem(item.Key, new Prepared(pixels, w, h, prompt));
        }

        public ValueTask<BatchOutput> RunBatchAsync(IReadOnlyList<PreparedItem> batch, CancellationToken ct)
        {
            ct.ThrowIfCancellationRequested();
            var items = batch.Select(p => (p.Key, Prep: (Prepared)p.Value)).ToList();
            if (loaded.Blip2 is { } blip2)
            {
                // BLIP-2: Blip2Processor's layout (query tokens + prompt ids); text = the new tokens, trimmed.
                return ValueTask.FromResult(Generate(blip2, blip2.Backend, blip2.DefaultOptions(parameters.MaxNewTokens), items,
                    blip2.ImageSize, blip2.PadTokenId,
                    prep => blip2.BuildInputIds(loaded.PromptIds(prep.Prompt)),
                    (px, ids, mask, maxNew) => blip2.Prefill(px, ids, mask, maxNew),
                    (_, text) => (text.Trim(), null)));
            }
            // PaliGemma: PaliGemmaProcessor's layout (PromptIds); detect prompts also get their <loc> boxes in pixels.
            var model = loaded.Model;
            return ValueTask.FromResult(Generate(model, model.Backend, model.DefaultOptions(parameters.MaxNewTokens), items,
                model.VisionConfig.ImageSize, model.Config.PadTokenId,
                prep => loaded.PromptIds(prep.Prompt)!,
                (px, ids, mask, maxNew) => model.Prefill(ids, mask, px, maxNew),
                (prep, text) => (text, prep.Prompt.StartsWith("detect ", StringComparison.Ordinal)
                    ? JsonSerializer.Serialize(PaliGemmaDetection.Parse(text, prep.Width, prep.Height)
                        .Select(x => new { label = x.Label, x_min = x.XMin, y_min = x.YMin, x_max = x.XMax, y_max = x.YMax }))
                    : null)));
        }

        /// <summary>
        /// One batch through either family: stack the pixels, left-pad the prompts, prefill, the shared generation
        /// loop, then one row per item (text = the new tokens without EOS, decoded without special tokens).
        /// </summary>
        private BatchOutput Generate(IAutoregressiveModel model, IBackend backend, GenerationOptions defaults,
            List<(string Key, Prepared Prep)> items, int size, int padTokenId,
            Func<Prepared, IReadOnlyList<int>> promptIds, Func<Tensor, long[,], long[,], int, Prefilled> prefill,
            Func<Prepared, string, (string Text, string? Boxes)> finish)
        {
            int b = items.Count;
            var pixels = TaskParameters.Stack(items.Select(x => x.Prep.Pixels).ToList());
            var options = defaults with { NumBeams = parameters.NumBeams };
            var (ids, mask) = PromptBatch.LeftPad(items.Select(x => promptIds(x.Prep)).ToList(), padTokenId);
            using var px = backend.FromFloats(pixels, b, 3, size, size);
            var clock = Stopwatch.StartNew();
            var prefilled = prefill(px, ids, mask, options.MaxNewTokens);
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
                var (text, boxes) = finish(prep, loaded.Tokenizer.Decode(seq.Tokens.Where(t => !eos.Contains(t)).ToList(), skipSpecialTokens: true));
                rows.Add(new CaptionResult(key, prep.Prompt, text, seq.Tokens.Count, seq.Finish == FinishReason.Eos ? "eos" : "length",
                    boxes, prep.Width, prep.Height, b, Math.Round(prefillMs, 3), Math.Round(decodeMs, 3)));
            }
            return BatchOutput.Of(rows);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
