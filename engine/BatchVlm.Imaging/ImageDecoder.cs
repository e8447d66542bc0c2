// Public entry points for decoding archive bytes: Probe (header only) and DecodeRgb (8-bit RGB exactly as the
// Hugging Face loaders produce with Pillow 9.4: ImageOps.exif_transpose, then convert("RGB")).
// JPEG goes through TurboJPEG (faster, DCT-scaling shrink-on-load); GIF through our own first-frame decoder (Pillow's
// transparency semantics) and BMP through our own decoders; PNG, WebP, TIFF, HEIF, JXL through libvips.
// Every failure caused by the bytes is an ImageDecodeException with a Kind; the size limits are checked from the
// header before any pixel is decoded.
using BatchVlm.Imaging.Decoding;

namespace BatchVlm.Imaging;

public static class ImageDecoder
{
    /// <summary>Format, stored size, bands and EXIF orientation from the header, without decoding pixels.</summary>
    /// <exception cref="ImageDecodeException">empty, truncated header, corrupt header or unknown format</exception>
    public static ImageInfo Probe(ReadOnlySpan<byte> data) => ImageProbe.Probe(data);

    /// <summary>Decodes to RGB HWC bytes. Throws ImageDecodeException for bad input (never crashes on hostile bytes).</summary>
    public static RgbImage DecodeRgb(ReadOnlySpan<byte> data, DecodeOptions? options = null) =>
        Decode(data, options ?? DecodeOptions.Default, static n => new byte[n], out _);

    /// <summary>As DecodeRgb, also returning the JPEG DCT scale used (1 = full size).</summary>
    public static RgbImage DecodeRgb(ReadOnlySpan<byte> data, DecodeOptions options, out int shrinkFactor) =>
        Decode(data, options, static n => new byte[n], out shrinkFactor);

    internal static RgbImage Decode(ReadOnlySpan<byte> data, DecodeOptions options, Func<int, byte[]> allocate, out int shrinkFactor)
    {
        var info = ImageProbe.Probe(data);
        CheckDimensions(info.Width, info.Height, options);
        shrinkFactor = 1;
        RgbImage image;
        int orientation = info.ExifOrientation;
        switch (info.Format)
        {
            case ImageFormat.Jpeg:
                if (options.ShrinkTarget is { } target)
                {
                    // The target is in displayed (oriented) terms; the decoder works on the stored orientation.
                    var (tw, th) = orientation >= 5 && options.ApplyExifOrientation ? (target.Height, target.Width) : target;
                    shrinkFactor = JpegDecoder.ChooseScale(info.Width, info.Height, tw, th, options.ShrinkOversample);
                }
                image = JpegDecoder.Decode(data, shrinkFactor, allocate);
                break;
            case ImageFormat.Gif:
                image = GifDecoder.Decode(data, options);
                break;
            case ImageFormat.Bmp:
                image = BmpDecoder.Decode(data, options);
                break;
            default:
                image = VipsDecoder.Decode(data, info.Format, options, out orientation);
                break;
        }
        return options.ApplyExifOrientation ? PilConvert.ExifTranspose(image, orientation) : image;
    }

    /// <summary>The decompression-bomb and dimension guards, applied to header sizes before decoding.</summary>
    public static void CheckDimensions(int width, int height, DecodeOptions options)
    {
        if (width <= 0 || height <= 0)
            throw new ImageDecodeException(ImageDecodeErrorKind.InvalidDimensions, $"image has size {width}x{height}");
        if (width > options.MaxDimension || height > options.MaxDimension)
            throw new ImageDecodeException(ImageDecodeErrorKind.InvalidDimensions,
                $"image size {width}x{height} exceeds the maximum dimension {options.MaxDimension}");
        if ((long)width * height > options.MaxPixels)
            throw new ImageDecodeException(ImageDecodeErrorKind.TooManyPixels,
                $"image size {width}x{height} ({(long)width * height} pixels) exceeds the limit of {options.MaxPixels} pixels, could be a decompression bomb DOS attack");
    }
}
