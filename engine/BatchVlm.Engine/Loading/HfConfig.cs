// Reads a Hugging Face `config.json`. These files are DIFFS against the config class defaults
// (PretrainedConfig.to_json_string(use_diff=True) in transformers 4.46.1, configuration_utils.py), so a model's
// config record declares every field it reads with the HF class default as its initializer, and a key missing from
// the file keeps that default. Nested sub-configs (`vision_config`, `text_config`) are bound the same way: an absent
// or null section gives the record's defaults. Names are bound snake_case (`layer_norm_eps` -> LayerNormEps);
// [JsonPropertyName] overrides where a key does not follow that rule.
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BatchVlm.Engine.Loading;

/// <summary>A parsed config.json: model_type, architectures, and typed binding of the whole file or a section.</summary>
public sealed class HfConfig
{
    /// <summary>snake_case names, numbers also from strings, comments and trailing commas tolerated, unknown keys ignored.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowReadingFromString
                         | System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    public HfConfig(JsonObject json, string source, string path = "")
    {
        Json = json;
        Source = source;
        PathInFile = path;
    }

    /// <summary>The JSON object (the whole file, or the section for a <see cref="Section"/>).</summary>
    public JsonObject Json { get; }
    /// <summary>The file this came from, for error messages.</summary>
    public string Source { get; }
    /// <summary>"" for the root, "vision_config" for a section.</summary>
    public string PathInFile { get; }

    public string? ModelType => GetOrDefault<string?>("model_type", null);

    /// <summary>
    /// Refuses a config whose model_type is set to something other than <paramref name="modelType"/> (a config without
    /// one is taken): "model_type 'bert' is not a Gemma model (expected 'gemma')", naming <paramref name="family"/>.
    /// </summary>
    public void ExpectModelType(string modelType, string family)
    {
        if (ModelType is { } mt && mt != modelType)
            throw new ModelLoadException($"{Source}: model_type '{mt}' is not {("AEIOU".Contains(family[0]) ? "an" : "a")} {family} model (expected '{modelType}')");
    }
    public IReadOnlyList<string> Architectures => GetOrDefault<string[]?>("architectures", null) ?? [];
    public string? TorchDtype => GetOrDefault<string?>("torch_dtype", null);

    /// <summary>Reads <c>config.json</c> from a model folder (or the given file).</summary>
    public static HfConfig Load(string fileOrDirectory)
    {
        string path = Directory.Exists(fileOrDirectory) ? Path.Combine(fileOrDirectory, "config.json") : fileOrDirectory;
        if (!File.Exists(path))
            throw new ModelLoadException($"Model config not found: {path}");
        try
        {
            var node = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            return node is JsonObject obj ? new HfConfig(obj, Path.GetFullPath(path))
                : throw new ModelLoadException($"Invalid model config {path}: the top level is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"Invalid model config {path}: {e.Message}", e);
        }
    }

    public static HfConfig Parse(string json, string source = "(inline)") =>
        JsonNode.Parse(json) is JsonObject obj ? new HfConfig(obj, source)
            : throw new ModelLoadException($"Invalid model config {source}: the top level is not a JSON object");

    public bool Has(string key) => Json.TryGetPropertyValue(key, out var v) && v is not null;

    /// <summary>A nested object (<c>vision_config</c>); an absent or null key gives an empty section (all defaults).</summary>
    public HfConfig Section(string key)
    {
        string path = PathInFile.Length == 0 ? key : PathInFile + "." + key;
        if (!Json.TryGetPropertyValue(key, out var v) || v is null)
            return new HfConfig([], Source, path);
        return v is JsonObject obj ? new HfConfig(obj, Source, path)
            : throw new ModelLoadException($"Invalid model config {Source}: '{path}' is not an object");
    }

    /// <summary>Binds this object to <typeparamref name="T"/>; absent keys keep T's initializer defaults.</summary>
    public T Bind<T>() where T : new()
    {
        try
        {
            return Json.Deserialize<T>(JsonOptions) ?? new T();
        }
        catch (JsonException e)
        {
            string where = PathInFile.Length == 0 ? "" : $" in '{PathInFile}'";
            throw new ModelLoadException($"Invalid model config {Source}{where}: {e.Message}", e);
        }
    }

    /// <summary>Binds the section <paramref name="key"/> (absent or null: <c>new T()</c>).</summary>
    public T Bind<T>(string key) where T : new() => Section(key).Bind<T>();

    /// <summary>One value, or <paramref name="defaultValue"/> when the key is absent or null.</summary>
    public T GetOrDefault<T>(string key, T defaultValue)
    {
        if (!Json.TryGetPropertyValue(key, out var v) || v is null) return defaultValue;
        try
        {
            return v.Deserialize<T>(JsonOptions) ?? defaultValue;
        }
        catch (JsonException e)
        {
            string path = PathInFile.Length == 0 ? key : PathInFile + "." + key;
            throw new ModelLoadException($"Invalid model config {Source}: '{path}' = {v.ToJsonString()} is not a {typeof(T).Name}", e);
        }
    }

    /// <summary>One required value; a missing key is an error naming the file and key.</summary>
    public T Get<T>(string key)
    {
        string path = PathInFile.Length == 0 ? key : PathInFile + "." + key;
        if (!Json.TryGetPropertyValue(key, out var v) || v is null)
            throw new ModelLoadException($"Model config {Source} has no '{path}'");
        return GetOrDefault<T>(key, default!);
    }

    public override string ToString() =>
        $"{Source}{(PathInFile.Length > 0 ? "#" + PathInFile : "")} (model_type {ModelType ?? "?"}, architectures [{string.Join(", ", Architectures)}])";
}
