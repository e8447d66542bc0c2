// Decodes the formats other than JPEG through libvips 8.14 (PNG, WebP, GIF first frame, TIFF, HEIF/JXL when the
// modules are present), then applies Pillow 9.4's convert("RGB") rules for the sample layout libvips returns.
// Loader options: fail_on=error (a truncated or damaged file is an error, as in PIL), access=sequential (stream
// strips instead of holding a second full copy).
using System.Runtime.InteropServices;
using BatchVlm.Imaging.Native;

namespace BatchVlm.Imaging.Decoding;

internal static unsafe class VipsDecoder
{
    private const string LoadOptions = "fail_on=error,access=sequential";

    /// <summary>Header only: libvips loaders are lazy until pixels are asked for.</summary>
    internal static ImageInfo ProbeHeader(ReadOnlySpan<byte> data, ImageFormat format)
    {
        VipsNative.Ensure();
        fixed (byte* p = data)
        {
            var image = Open(p, data, format);
            try
            {
                return new ImageInfo(format, VipsNative.vips_image_get_width(image), VipsNative.vips_image_get_height(image),
                    VipsNative.vips_image_get_bands(image), Orientation(image), Pages(image));
            }
            finally { VipsNative.g_object_unref(image); }
        }
    }

    /// <summary>Decodes to RGB (HWC, 8-bit) with PIL's conversion rules. The caller has checked the size limits.</summary>
    internal static RgbImage Decode(ReadOnlySpan<byte> data, ImageFormat format, DecodeOptions options, out int orientation)
    {
        VipsNative.Ensure();
        fixed (byte* p = data)
        {
            var image = Open(p, data, format);
            try
            {
                int w = VipsNative.vips_image_get_width(image), h = VipsNative.vips_image_get_height(image);
                int bands = VipsNative.vips_image_get_bands(image), fmt = VipsNative.vips_image_get_format(image);
                int interp = VipsNative.vips_image_get_interpretation(image);
                orientation = Orientation(image);
                ImageDecoder.CheckDimensions(w, h, options);
                if (fmt is not (VipsNative.FormatUChar or VipsNative.FormatUShort))
                    throw new ImageDecodeException(ImageDecodeErrorKind.UnsupportedFeature,
                        $"{format} with sample format {FormatName(fmt)} is not supported (8- or 16-bit integer samples only)");
                if (bands is < 1 or > 4)
                    throw new ImageDecodeException(ImageDecodeErrorKind.UnsupportedFeature, $"{format} with {bands} bands is not supported");
                var mem = VipsNative.vips_image_write_to_memory(image, out var size);
                if (mem == IntPtr.Zero) throw Failure(format, data);
                try
                {
                    int bytesPerSample = fmt == VipsNative.FormatUShort ? 2 : 1;
                    if ((long)size != (long)w * h * bands * bytesPerSample)
                        throw new ImageDecodeException(ImageDecodeErrorKind.Corrupt, $"libvips returned {size} bytes for {w}x{h}x{bands}");
                    var rgb = new byte[checked(w * h * 3)];
                    var src = new ReadOnlySpan<byte>((void*)mem, (int)size);
                    if (bytesPerSample == 1)
                        PilConvert.ToRgb8(src, bands, interp == VipsNative.InterpretationCmyk, rgb, w * h);
                    else
                        PilConvert.ToRgb16(MemoryMarshal.Cast<byte, ushort>(src), bands, rgb, w * h);
                    return new RgbImage(w, h, rgb);
                }
                finally { VipsNative.g_free(mem); }
            }
            finally { VipsNative.g_object_unref(image); }
        }
    }

    private static IntPtr Open(byte* p, ReadOnlySpan<byte> data, ImageFormat format)
    {
        int length = data.Length;
        if (VipsNative.vips_foreign_find_load_buffer(p, (nuint)length) == IntPtr.Zero)
        {
            VipsNative.TakeError(); // "not a known file format": the message below says it better
            throw new ImageDecodeException(ImageDecodeErrorKind.UnsupportedFormat,
                $"no decoder for this {(format == ImageFormat.Unknown ? "data" : format.ToString())} (libvips has no loader for it)");
        }
        var image = VipsNative.vips_image_new_from_buffer(p, (nuint)length, LoadOptions, IntPtr.Zero);
        if (image == IntPtr.Zero) throw Failure(format, data);
        return image;
    }

    private static int Orientation(IntPtr image)
    {
        if (VipsNative.vips_image_get_typeof(image, "orientation") == 0) return 1;
        return VipsNative.vips_image_get_int(image, "orientation", out var v) == 0 && v is >= 1 and <= 8 ? v : 1;
    }

    private static int Pages(IntPtr image)
    {
        if (VipsNative.vips_image_get_typeof(image, "n-pages") == 0) return 1;
        return VipsNative.vips_image_get_int(image, "n-pages", out var v) == 0 && v > 0 ? v : 1;
    }

    private static ImageDecodeException Failure(ImageFormat format, ReadOnlySpan<byte> data)
    {
        var message = VipsNative.TakeError();
        var lower = message.ToLowerInvariant();
        // libvips rarely says "truncated" (libpng reports a generic read error), so the container is checked too.
        var kind = ImageProbe.LooksTruncated(format, data) || lower.Contains("truncat") || lower.Contains("premature") || lower.Contains("end of") || lower.Contains("eof") ||
                   lower.Contains("not enough data") || lower.Contains("unexpected end")
            ? ImageDecodeErrorKind.Truncated
            : ImageDecodeErrorKind.Corrupt;
        return new ImageDecodeException(kind, $"{format}: {(message.Length == 0 ? "libvips could not decode it" : message.Replace('\n', ' '))}");
    }

    private static string FormatName(int f) => f switch
    {
        VipsNative.FormatChar => "int8", VipsNative.FormatShort => "int16", VipsNative.FormatUInt => "uint32",
        VipsNative.FormatInt => "int32", VipsNative.FormatFloat => "float", VipsNative.FormatDouble => "double",
        _ => $"#{f}",
    };
}
