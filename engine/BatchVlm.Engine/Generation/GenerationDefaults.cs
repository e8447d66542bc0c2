// A checkpoint's generation defaults: generation_config.json when the folder has one, else the model config's ids —
// what transformers 4.46.1 GenerationConfig.from_pretrained / from_model_config give generate(). Only the ids the
// loop needs are read (eos, pad); when no pad id is set, HF pads finished rows with the first eos id.
using System.Text.Json;
using BatchVlm.Engine.Loading;

namespace BatchVlm.Engine.Generation;

public sealed record GenerationDefaults(IReadOnlyList<int> EosTokenIds, int PadTokenId)
{
    public const string FileName = "generation_config.json";

    /// <summary>Reads <c>generation_config.json</c> in <paramref name="modelDir"/>; keys it lacks (or a missing file)
    /// fall back to the model config's <paramref name="configEos"/> / <paramref name="configPad"/>.</summary>
    public static GenerationDefaults Load(string modelDir, IReadOnlyList<int> configEos, int? configPad)
    {
        IReadOnlyList<int> eos = configEos;
        int? pad = configPad;
        string path = Path.Combine(modelDir, FileName);
        if (File.Exists(path))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
                var root = doc.RootElement;
                if (root.TryGetProperty("eos_token_id", out var e))
                    eos = TokenIds(e, path);
                if (root.TryGetProperty("pad_token_id", out var p))
                    pad = p.ValueKind == JsonValueKind.Null ? null : p.GetInt32();
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
            {
                throw new ModelLoadException($"Invalid {path}: {ex.Message}", ex);
            }
        }
        return new GenerationDefaults(eos, pad ?? (eos.Count > 0 ? eos[0] : 0));
    }

    /// <summary>An <c>eos_token_id</c> value as HF accepts it: one id, a list of ids, or null (none).</summary>
    /// <param name="source">file named in the error</param>
    public static IReadOnlyList<int> TokenIds(JsonElement value, string source) => value.ValueKind switch
    {
        JsonValueKind.Number => [value.GetInt32()],
        JsonValueKind.Array => value.EnumerateArray().Select(x => x.GetInt32()).ToArray(),
        JsonValueKind.Null => [],
        _ => throw new ModelLoadException($"{source}: eos_token_id must be an id or a list of ids, got {value}"),
    };

    /// <summary>Greedy options with these ids and a token budget.</summary>
    public GenerationOptions Options(int maxNewTokens) =>
        new() { MaxNewTokens = maxNewTokens, EosTokenIds = EosTokenIds, PadTokenId = PadTokenId };
}
