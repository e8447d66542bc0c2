// Shared parsing of model-task parameters (JSON objects, snake_case keys, unknown keys refused) and of job text lists.
using System.Text.Json;
using System.Text.Json.Serialization;
using BatchVlm.Imaging.Processing;

namespace BatchVlm.Worker.Tasks;

internal static class TaskParameters
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Deserializes <paramref name="parametersJson"/> ({} when empty); ArgumentException names the task and
    /// the known keys.</summary>
    public static T Parse<T>(string task, string? parametersJson, string known) where T : new()
    {
        try
        {
            return string.IsNullOrWhiteSpace(parametersJson) ? new T() : JsonSerializer.Deserialize<T>(parametersJson, Json) ?? new T();
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{task} parameters: {e.Message} (known: {known})", e);
        }
    }

    /// <summary>Checks a job's text list: 1..<paramref name="max"/> non-empty single-line texts.</summary>
    public static void CheckTexts(string task, IReadOnlyList<string>? texts, bool required, int max = 10_000)
    {
        if (texts is null || texts.Count == 0)
        {
            if (required)
                throw new ArgumentException($"{task} needs parameter texts (a JSON array of strings, or --texts FILE with one text per line)");
            return;
        }
        if (texts.Count > max)
            throw new ArgumentException($"{task} parameter texts: {texts.Count} texts, at most {max}");
        for (int i = 0; i < texts.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(texts[i]))
                throw new ArgumentException($"{task} parameter texts: text {i} is empty");
            if (texts[i].Contains('\n') || texts[i].Contains('\r'))
                throw new ArgumentException($"{task} parameter texts: text {i} contains a line break");
        }
    }

    /// <summary>Values of the shrink_on_load parameter (embed, score, caption).</summary>
    public const string ShrinkOnLoadValues = "off, on, draft";

    /// <summary>
    /// Checks shrink_on_load: "off" (default: the exact path, bit-identical with Hugging Face), "on" (JPEG DCT scaling
    /// keeping ≥ 2× the model's input size: decoding 4000×3000 photos about 1.9× faster, ≤ 2 uint8 levels off) or
    /// "draft" (Pillow's draft() rule, ≥ 1×: about 4× faster, byte-identical to Pillow's draft() pipeline, further
    /// off the exact path). See engine/BatchVlm.Imaging/README.md.
    /// </summary>
    public static void CheckShrinkOnLoad(string task, string value)
    {
        if (value is not ("off" or "on" or "draft"))
            throw new ArgumentException($"{task} parameter shrink_on_load must be one of {ShrinkOnLoadValues}, got '{value}'");
    }

    /// <summary>The model's image processor with the job's shrink_on_load applied (the same one for "off").</summary>
    public static ImageProcessor WithShrinkOnLoad(ImageProcessor processor, string shrinkOnLoad) => shrinkOnLoad switch
    {
        "on" => new ImageProcessor(processor.Config, processor.Options with { ShrinkOnLoad = true, ShrinkOversample = 2.0 }),
        "draft" => new ImageProcessor(processor.Config, processor.Options with { ShrinkOnLoad = true, ShrinkOversample = 1.0 }),
        _ => processor,
    };

    public static void CheckBatchSize(string task, int batchSize)
    {
        if (batchSize is < 1 or > 256)
            throw new ArgumentException($"{task} parameter batch_size must be 1..256, got {batchSize}");
    }

    /// <summary>Concatenates prepared pixel tensors (each 3·S·S) into one (B, 3, S, S) buffer.</summary>
    public static float[] Stack(IReadOnlyList<float[]> pixels)
    {
        int plane = pixels[0].Length;
        var all = new float[pixels.Count * plane];
        for (int i = 0; i < pixels.Count; i++)
            pixels[i].CopyTo(all, i * plane);
        return all;
    }
}
