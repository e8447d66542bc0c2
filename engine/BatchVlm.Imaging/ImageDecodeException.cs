// The one exception image decoding throws for bad input: a typed Kind plus the reason, so the worker can record a
// permanent per-item failure and carry on with the shard.
namespace BatchVlm.Imaging;

/// <summary>Why an image could not be turned into RGB pixels.</summary>
public enum ImageDecodeErrorKind
{
    /// <summary>Zero bytes.</summary>
    Empty,
    /// <summary>The data ends before the image does (PIL: "image file is truncated").</summary>
    Truncated,
    /// <summary>The header or the compressed data is invalid.</summary>
    Corrupt,
    /// <summary>Not an image format this decoder knows (includes non-image files).</summary>
    UnsupportedFormat,
    /// <summary>A known format with a feature this decoder does not handle (sample format, colour model).</summary>
    UnsupportedFeature,
    /// <summary>Width × height exceeds <see cref="DecodeOptions.MaxPixels"/> (decompression-bomb guard).</summary>
    TooManyPixels,
    /// <summary>Width or height is zero or beyond <see cref="DecodeOptions.MaxDimension"/>.</summary>
    InvalidDimensions,
}

/// <summary>Bad image input. Always permanent: retrying the same bytes gives the same error.</summary>
public sealed class ImageDecodeException(ImageDecodeErrorKind kind, string reason, string? item = null)
    : Exception(item is null ? $"{kind}: {reason}" : $"{item}: {kind}: {reason}")
{
    public ImageDecodeErrorKind Kind { get; } = kind;
    public string Reason { get; } = reason;
    /// <summary>The item (file name, blob key) when the caller supplied one.</summary>
    public string? Item { get; } = item;

    /// <summary>The same error, naming the item it came from.</summary>
    public ImageDecodeException WithItem(string item) => new(Kind, Reason, item);
}
