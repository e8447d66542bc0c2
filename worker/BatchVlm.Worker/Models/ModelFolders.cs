// What the worker's model tasks need to know about a model folder before choosing a class: its config.json
// model_type (siglip, clip, altclip, blip-2, paligemma), the text tower's vocabulary size and length limit, and the
// image processor — the folder's preprocessor_config.json, or the family's defaults (transformers 4.46.1 processor
// defaults at the tower's image size) for checkpoints that ship none.
using System.Text.Json.Nodes;
using BatchVlm.Engine.Loading;
using BatchVlm.Imaging.Processing;

namespace BatchVlm.Worker.Models;

public static class ModelFolders
{
    /// <summary>The folder of a model id: a local folder, or a hub repo id from the cache or downloaded
    /// (ModelSource.Resolve; HF_HOME / HF_HUB_CACHE / HF_ENDPOINT / HF_TOKEN / HF_HUB_OFFLINE apply).</summary>
    public static string Resolve(string modelId) => ModelSource.Resolve(modelId).Directory;

    public static JsonObject Config(string directory)
    {
        var path = Path.Combine(directory, "config.json");
        if (!File.Exists(path))
            throw new ModelLoadException($"{directory}: no config.json");
        return JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new ModelLoadException($"{path}: not a JSON object");
    }

    /// <summary>config.json model_type, lower case ("blip-2", "siglip", ...).</summary>
    public static string ModelType(JsonObject config) =>
        (config["model_type"]?.GetValue<string>() ?? throw new ModelLoadException("config.json has no model_type")).ToLowerInvariant();

    /// <summary>model_type of a model id when it is a local folder with a config.json (submit-time checks); else null.</summary>
    public static string? TryLocalModelType(string modelId)
    {
        try
        {
            return Directory.Exists(modelId) && File.Exists(Path.Combine(modelId, "config.json")) ? ModelType(Config(modelId)) : null;
        }
        catch (Exception ex) when (ex is ModelLoadException or System.Text.Json.JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>An int under a dotted path of config.json ("text_config.vocab_size"), or <paramref name="fallback"/>.</summary>
    public static int Int(JsonObject config, string path, int fallback)
    {
        JsonNode? node = config;
        foreach (var part in path.Split('.'))
            node = node is JsonObject o ? o[part] : null;
        return node is JsonValue v && v.TryGetValue<int>(out var i) ? i : fallback;
    }

    /// <summary>The folder's image processor, or <paramref name="defaultJson"/>; checked to output imageSize².</summary>
    public static ImageProcessor Processor(string directory, string defaultJson, int imageSize)
    {
        var processor = File.Exists(Path.Combine(directory, "preprocessor_config.json"))
            ? ImageProcessor.FromConfig(directory)
            : ImageProcessor.FromConfig(defaultJson);
        if (processor.FixedOutputSize is not { } size || size.Height != imageSize || size.Width != imageSize)
            throw new ModelLoadException(
                $"{directory}: the image processor outputs {processor.FixedOutputSize?.ToString() ?? "a variable size"}, the vision tower wants {imageSize}x{imageSize}");
        return processor;
    }

    private const string OpenAiMean = "[0.48145466, 0.4578275, 0.40821073]";
    private const string OpenAiStd = "[0.26862954, 0.26130258, 0.27577711]";

    /// <summary>SiglipImageProcessor: bicubic resize to size², x/255, mean = std = 0.5.</summary>
    public static string SiglipDefaults(int size) =>
        $$"""{"image_processor_type": "SiglipImageProcessor", "do_resize": true, "size": {"height": {{size}}, "width": {{size}}}, "resample": 3, "do_rescale": true, "rescale_factor": 0.00392156862745098, "do_normalize": true, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "do_convert_rgb": true}""";

    /// <summary>CLIPImageProcessor (CLIP, AltCLIP): bicubic resize of the shortest edge, center crop, OpenAI mean/std.</summary>
    public static string ClipDefaults(int size) =>
        $$"""{"image_processor_type": "CLIPImageProcessor", "do_resize": true, "size": {"shortest_edge": {{size}}}, "do_center_crop": true, "crop_size": {"height": {{size}}, "width": {{size}}}, "resample": 3, "do_rescale": true, "rescale_factor": 0.00392156862745098, "do_normalize": true, "image_mean": {{OpenAiMean}}, "image_std": {{OpenAiStd}}, "do_convert_rgb": true}""";

    /// <summary>BlipImageProcessor (BLIP-2): bicubic resize to size², OpenAI mean/std.</summary>
    public static string BlipDefaults(int size) =>
        $$"""{"image_processor_type": "BlipImageProcessor", "do_resize": true, "size": {"height": {{size}}, "width": {{size}}}, "resample": 3, "do_rescale": true, "rescale_factor": 0.00392156862745098, "do_normalize": true, "image_mean": {{OpenAiMean}}, "image_std": {{OpenAiStd}}, "do_convert_rgb": true}""";
}
