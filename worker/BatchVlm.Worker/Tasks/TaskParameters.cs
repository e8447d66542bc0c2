// Shared parsing of model-task parameters (JSON objects, snake_case keys, unknown keys refused) and of job text lists.
using System.Text.Json;
using System.Text.Json.Serialization;

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
