// Options for ImageDecoder.DecodeRgb. Defaults reproduce what the Hugging Face loaders do with Pillow 9.4:
// PIL.ImageOps.exif_transpose, then .convert("RGB"), with PIL's decompression-bomb limit.
namespace BatchVlm.Imaging;

public sealed record DecodeOptions
{
    public static readonly DecodeOptions Default = new();

    /// <summary>
    /// Refuse images with more pixels than this before any pixel is decoded. Default 178,956,970 =
    /// 2 × PIL.Image.MAX_IMAGE_PIXELS, the size above which PIL raises DecompressionBombError (below it PIL only warns).
    /// </summary>
    public long MaxPixels { get; init; } = 178_956_970;

    /// <summary>Refuse a width or height above this (default 65,500 = libjpeg's limit, also PIL's practical one).</summary>
    public int MaxDimension { get; init; } = 65_500;

    /// <summary>Apply the EXIF orientation like PIL.ImageOps.exif_transpose (default true, as HF's load_image does).</summary>
    public bool ApplyExifOrientation { get; init; } = true;

    /// <summary>
    /// Shrink-on-load target (width, height) for JPEG: decode with libjpeg DCT scaling 1/2, 1/4 or 1/8, choosing the
    /// largest factor that keeps the decoded image at least <see cref="ShrinkOversample"/> times this size in both
    /// directions (PIL's <c>draft()</c> rule when ShrinkOversample is 1). Null (default) decodes at full size: the
    /// exact path, bit-identical with Pillow. Give the size you will resize to, in displayed (EXIF-oriented) terms.
    /// </summary>
    public (int Width, int Height)? ShrinkTarget { get; init; }

    /// <summary>Minimum ratio decoded/target kept by shrink-on-load (default 1.0 = PIL draft's rule).</summary>
    public double ShrinkOversample { get; init; } = 1.0;
}
