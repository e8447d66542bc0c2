// preprocessor_config.json, bound to the Hugging Face 4.46.1 image processors this engine reproduces:
// SiglipImageProcessor (PaliGemma, SigLIP), CLIPImageProcessor (CLIP, AltCLIP; older configs name it
// "CLIPFeatureExtractor") and BlipImageProcessor (BLIP, BLIP-2). Defaults are each class's __init__ defaults in
// transformers v4.46.1 (models/{siglip,clip,blip}/image_processing_*.py). A key this engine does not understand is an
// error naming it, rather than a silent difference from what the model was trained with.
using System.Text.Json;
using BatchVlm.Imaging.Resampling;

namespace BatchVlm.Imaging.Processing;

public enum ImageProcessorType { Siglip, Clip, Blip }

/// <summary>A preprocessor_config.json this engine cannot reproduce exactly. Permanent: fix the config or the engine.</summary>
public sealed class UnsupportedImageProcessorException(string message) : Exception(message);

/// <summary>How to size the image before the optional crop: an exact (Height, Width), or the shortest edge.</summary>
public sealed record ResizeSpec(int? Height, int? Width, int? ShortestEdge);

public sealed record ImageProcessorConfig
{
    private static readonly double[] OpenAiClipMean = [0.48145466, 0.4578275, 0.40821073];
    private static readonly double[] OpenAiClipStd = [0.26862954, 0.26130258, 0.27577711];

    public required ImageProcessorType Type { get; init; }
    /// <summary>The class name as written in the config (for messages).</summary>
    public required string TypeName { get; init; }
    public bool DoResize { get; init; } = true;
    public required ResizeSpec Size { get; init; }
    public ResampleFilter Resample { get; init; } = ResampleFilter.Bicubic;
    public bool DoCenterCrop { get; init; }
    public (int Height, int Width)? CropSize { get; init; }
    public bool DoRescale { get; init; } = true;
    /// <summary>Kept as the double the JSON holds: HF multiplies in float64 (image.astype(float64) * scale).</summary>
    public double RescaleFactor { get; init; } = 1 / 255.0;
    public bool DoNormalize { get; init; } = true;
    /// <summary>Per-channel mean and std as float64 from JSON; HF casts them to the image dtype (float32) before use.</summary>
    public required double[] ImageMean { get; init; }
    public required double[] ImageStd { get; init; }
    /// <summary>Informational: our decoder always yields RGB, which is what convert_rgb gives for every PIL mode.</summary>
    public bool? DoConvertRgb { get; init; }

    private static readonly HashSet<string> IgnoredKeys =
    [
        "image_processor_type", "feature_extractor_type", "processor_class", "image_seq_length", "_processor_class",
    ];

    private static readonly Dictionary<ImageProcessorType, HashSet<string>> KnownKeys = new()
    {
        [ImageProcessorType.Siglip] = ["do_resize", "size", "resample", "do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std", "do_convert_rgb"],
        [ImageProcessorType.Clip] = ["do_resize", "size", "resample", "do_center_crop", "crop_size", "do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std", "do_convert_rgb"],
        [ImageProcessorType.Blip] = ["do_resize", "size", "resample", "do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std", "do_convert_rgb"],
    };

    /// <summary>Reads a preprocessor_config.json file, a model folder holding one, or the JSON text itself.</summary>
    public static ImageProcessorConfig Load(string pathOrJson)
    {
        string json, source;
        if (pathOrJson.TrimStart().StartsWith('{')) { json = pathOrJson; source = "preprocessor config JSON"; }
        else
        {
            var path = Directory.Exists(pathOrJson) ? Path.Combine(pathOrJson, "preprocessor_config.json") : pathOrJson;
            if (!File.Exists(path)) throw new FileNotFoundException($"preprocessor config not found: {path}", path);
            json = File.ReadAllText(path); source = path;
        }
        try { return Parse(json); }
        catch (UnsupportedImageProcessorException e) { throw new UnsupportedImageProcessorException($"{source}: {e.Message}"); }
        catch (JsonException e) { throw new UnsupportedImageProcessorException($"{source}: invalid JSON: {e.Message}"); }
    }

    public static ImageProcessorConfig Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new UnsupportedImageProcessorException("the config is not a JSON object");
        string typeName = Str(root, "image_processor_type") ?? Str(root, "feature_extractor_type")
            ?? throw new UnsupportedImageProcessorException("neither image_processor_type nor feature_extractor_type is set");
        var type = typeName switch
        {
            "SiglipImageProcessor" => ImageProcessorType.Siglip,
            "CLIPImageProcessor" or "CLIPFeatureExtractor" => ImageProcessorType.Clip,
            "BlipImageProcessor" => ImageProcessorType.Blip,
            _ => throw new UnsupportedImageProcessorException(
                $"image processor '{typeName}' is not supported (supported: SiglipImageProcessor, CLIPImageProcessor, BlipImageProcessor)"),
        };
        foreach (var p in root.EnumerateObject())
            if (!IgnoredKeys.Contains(p.Name) && !KnownKeys[type].Contains(p.Name))
                throw new UnsupportedImageProcessorException($"option '{p.Name}' of {typeName} is not supported");

        var defaultSize = type switch
        {
            ImageProcessorType.Siglip => new ResizeSpec(224, 224, null),
            ImageProcessorType.Clip => new ResizeSpec(null, null, 224),
            _ => new ResizeSpec(384, 384, null),
        };
        // get_size_dict(size, default_to_square=False) for SigLIP and CLIP; BLIP uses default_to_square=True.
        var size = root.TryGetProperty("size", out var s) && s.ValueKind != JsonValueKind.Null
            ? ParseSize(s, "size", defaultToSquare: type == ImageProcessorType.Blip, typeName)
            : defaultSize;
        if (type != ImageProcessorType.Clip && (size.Height is null || size.Width is null))
            throw new UnsupportedImageProcessorException($"{typeName} needs size with 'height' and 'width' (got shortest_edge)");
        if (type == ImageProcessorType.Clip && size.ShortestEdge is null && (size.Height is null || size.Width is null))
            throw new UnsupportedImageProcessorException("Size must contain either 'shortest_edge' or 'height' and 'width'.");

        (int, int)? crop = null;
        bool doCrop = type == ImageProcessorType.Clip && (Bool(root, "do_center_crop") ?? true);
        if (type == ImageProcessorType.Clip)
        {
            var c = root.TryGetProperty("crop_size", out var cs) && cs.ValueKind != JsonValueKind.Null
                ? ParseSize(cs, "crop_size", defaultToSquare: true, typeName)
                : new ResizeSpec(224, 224, null);
            if (c.Height is null || c.Width is null)
                throw new UnsupportedImageProcessorException($"{typeName} crop_size needs 'height' and 'width'");
            crop = (c.Height.Value, c.Width.Value);
        }

        int resample = root.TryGetProperty("resample", out var r) && r.ValueKind != JsonValueKind.Null ? Int(r, "resample", typeName) : 3;
        if (resample is < 1 or > 5)
            throw new UnsupportedImageProcessorException(resample == 0
                ? $"resample=0 (NEAREST) of {typeName} is not supported"
                : $"resample={resample} of {typeName} is not a PIL resampling filter");

        bool siglip = type == ImageProcessorType.Siglip;
        // IMAGENET_STANDARD_MEAN/STD (0.5) for SigLIP, OPENAI_CLIP_MEAN/STD for CLIP and BLIP.
        var mean = Doubles(root, "image_mean", typeName) ?? (siglip ? [0.5, 0.5, 0.5] : OpenAiClipMean);
        var std = Doubles(root, "image_std", typeName) ?? (siglip ? [0.5, 0.5, 0.5] : OpenAiClipStd);

        return new ImageProcessorConfig
        {
            Type = type,
            TypeName = typeName,
            DoResize = Bool(root, "do_resize") ?? true,
            Size = size,
            Resample = (ResampleFilter)resample,
            DoCenterCrop = doCrop,
            CropSize = crop,
            DoRescale = Bool(root, "do_rescale") ?? true,
            RescaleFactor = root.TryGetProperty("rescale_factor", out var rf) && rf.ValueKind != JsonValueKind.Null
                ? Double(rf, "rescale_factor", typeName) : 1 / 255.0,
            DoNormalize = Bool(root, "do_normalize") ?? true,
            ImageMean = mean,
            ImageStd = std,
            DoConvertRgb = Bool(root, "do_convert_rgb"),
        };
    }

    private static string? Str(JsonElement root, string key) =>
        root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static bool? Bool(JsonElement root, string key) =>
        root.TryGetProperty(key, out var v) ? v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Null => null,
            _ => throw new UnsupportedImageProcessorException($"option '{key}' must be true, false or null"),
        } : null;

    private static double[]? Doubles(JsonElement root, string key, string typeName)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.Number) { double x = Double(v, key, typeName); return [x, x, x]; }
        if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() != 3)
            throw new UnsupportedImageProcessorException($"option '{key}' of {typeName} must be a number or a list of 3 numbers");
        return v.EnumerateArray().Select(e => Double(e, key, typeName)).ToArray();
    }

    // JsonElement.GetInt32/GetDouble throw InvalidOperationException or FormatException without naming the key.
    private static int Int(JsonElement v, string key, string typeName) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n
        : throw new UnsupportedImageProcessorException($"option '{key}' of {typeName} must be an integer (got {v.GetRawText()})");

    private static double Double(JsonElement v, string key, string typeName) =>
        v.ValueKind == JsonValueKind.Number ? v.GetDouble()
        : throw new UnsupportedImageProcessorException($"option '{key}' of {typeName} must be a number (got {v.GetRawText()})");

    /// <summary>transformers.image_processing_utils.get_size_dict for an int, a [h, w] list or a dict.</summary>
    private static ResizeSpec ParseSize(JsonElement s, string key, bool defaultToSquare, string typeName)
    {
        switch (s.ValueKind)
        {
            case JsonValueKind.Number:
                int n = Int(s, key, typeName);
                return defaultToSquare ? new ResizeSpec(n, n, null) : new ResizeSpec(null, null, n);
            case JsonValueKind.Array when s.GetArrayLength() == 2:
                return new ResizeSpec(Int(s[0], key, typeName), Int(s[1], key, typeName), null);
            case JsonValueKind.Object:
                int? h = null, w = null, se = null;
                foreach (var p in s.EnumerateObject())
                {
                    switch (p.Name)
                    {
                        case "height": h = Int(p.Value, $"{key}.height", typeName); break;
                        case "width": w = Int(p.Value, $"{key}.width", typeName); break;
                        case "shortest_edge": se = Int(p.Value, $"{key}.shortest_edge", typeName); break;
                        default: throw new UnsupportedImageProcessorException($"option '{key}.{p.Name}' of {typeName} is not supported");
                    }
                }
                if (h is not null != w is not null)
                    throw new UnsupportedImageProcessorException($"option '{key}' of {typeName} needs both 'height' and 'width'");
                if (se is not null && h is not null)
                    throw new UnsupportedImageProcessorException($"option '{key}' of {typeName} mixes shortest_edge with height/width");
                if ((h ?? 1) < 1 || (w ?? 1) < 1 || (se ?? 1) < 1)
                    throw new UnsupportedImageProcessorException($"option '{key}' of {typeName} must be positive");
                return new ResizeSpec(h, w, se);
            default:
                throw new UnsupportedImageProcessorException($"option '{key}' of {typeName} has an unsupported form: {s.GetRawText()}");
        }
    }
}
