// JPEG decoding through TurboJPEG (libjpeg-turbo 2.1.5, the library Pillow 9.4 uses), with libjpeg's defaults —
// JDCT_ISLOW and fancy upsampling, as Pillow leaves them — so the decoded pixels are identical to Pillow's.
// Optional DCT scaling (1/2, 1/4, 1/8) gives shrink-on-load, chosen like Pillow's JpegImageFile.draft().
// Truncation follows Pillow: a file that ends inside the scan data is an error ("image file is truncated"),
// while a file that only lacks the final EOI marker or has trailing bytes decodes (libjpeg warnings are ignored).
using BatchVlm.Imaging.Native;

namespace BatchVlm.Imaging.Decoding;

internal static unsafe class JpegDecoder
{
    /// <summary>One decompressor per thread (a tjhandle is not thread-safe); freed by its finalizer when the thread ends.</summary>
    [ThreadStatic] private static TurboJpegHandle? _handle;

    private static TurboJpegHandle Handle => _handle ??= TurboJpegNative.CreateDecompressor();

    /// <summary>
    /// Pillow's draft() rule generalised: the largest s in {8, 4, 2, 1} with s ≤ min(W / (tw·k), H / (th·k)) using
    /// integer division when k = 1, so the decoded size ceil(W/s) × ceil(H/s) stays ≥ k × the target.
    /// </summary>
    internal static int ChooseScale(int width, int height, int targetWidth, int targetHeight, double oversample)
    {
        if (targetWidth <= 0 || targetHeight <= 0) return 1;
        double ratio = Math.Min(Math.Floor(width / (targetWidth * oversample)), Math.Floor(height / (targetHeight * oversample)));
        foreach (int s in new[] { 8, 4, 2 })
            if (ratio >= s) return s;
        return 1;
    }

    /// <summary>
    /// TurboJPEG 2.1 leaves the libjpeg decompressor mid-state after an error (no jpeg_abort on its error path), so the
    /// next image on that handle would continue the broken one ("Bogus Huffman table definition" on a valid file).
    /// After any failure or warning the thread's handle is destroyed and a fresh one made on next use.
    /// </summary>
    private static void DiscardHandle()
    {
        _handle?.Dispose();
        _handle = null;
    }

    /// <summary>Decodes to RGB at 1/<paramref name="scale"/> size. The caller has checked the header dimensions.</summary>
    /// <param name="fastEighth">at scale 8, use JpegEighthDecoder when it takes the file (same pixels, faster)</param>
    internal static RgbImage Decode(ReadOnlySpan<byte> data, int scale, Func<int, byte[]> allocate, bool fastEighth = true)
    {
        if (scale == 8 && fastEighth && JpegEighthDecoder.TryDecode(data, allocate) is { } fast) return fast;
        try
        {
            var image = DecodeCore(data, scale, allocate, out bool hadWarning);
            if (hadWarning) DiscardHandle();
            return image;
        }
        catch
        {
            DiscardHandle();
            throw;
        }
    }

    private static RgbImage DecodeCore(ReadOnlySpan<byte> data, int scale, Func<int, byte[]> allocate, out bool resetHandle)
    {
        resetHandle = false;
        var handle = Handle;
        bool endsWithEoi = data.Length >= 2 && data[^2] == 0xFF && data[^1] == 0xD9;
        byte[]? padded = null;
        if (!endsWithEoi)
        {
            // Give libjpeg an EOI so a file that only lacks it decodes as in Pillow; a real truncation then shows up
            // as "premature end of data segment" (the scan hits the EOI marker), which we turn into Truncated.
            padded = new byte[data.Length + 2];
            data.CopyTo(padded);
            padded[^2] = 0xFF; padded[^1] = 0xD9;
            data = padded;
        }
        fixed (byte* src = data)
        {
            if (TurboJpegNative.tjDecompressHeader3(handle, src, (nuint)data.Length, out int w, out int h, out _, out int cs) != 0)
            {
                // TurboJPEG reports libjpeg *warnings* (e.g. "unknown JFIF revision number") as failures too; Pillow
                // ignores warnings, so only a real error stops here. The handle is renewed afterwards either way.
                resetHandle = true;
                if (TurboJpegNative.tjGetErrorCode(handle) != TurboJpegNative.ErrorWarning)
                    throw Error(handle, "reading the header", endsWithEoi);
            }
            int sw = (w + scale - 1) / scale, sh = (h + scale - 1) / scale;
            int pixelFormat = cs switch
            {
                TurboJpegNative.ColorspaceGray => TurboJpegNative.PixelFormatGray,
                TurboJpegNative.ColorspaceCmyk or TurboJpegNative.ColorspaceYcck => TurboJpegNative.PixelFormatCmyk,
                _ => TurboJpegNative.PixelFormatRgb,
            };
            int bpp = pixelFormat switch { TurboJpegNative.PixelFormatGray => 1, TurboJpegNative.PixelFormatCmyk => 4, _ => 3 };
            var rgb = allocate(checked(sw * sh * 3));
            byte[]? raw = bpp == 3 ? null : new byte[checked(sw * sh * bpp)];
            int rc;
            fixed (byte* dst = raw ?? rgb)
                rc = TurboJpegNative.tjDecompress2(handle, src, (nuint)data.Length, dst, sw, sw * bpp, sh, pixelFormat,
                    TurboJpegNative.FlagLimitScans);
            if (rc != 0)
            {
                bool warning = TurboJpegNative.tjGetErrorCode(handle) == TurboJpegNative.ErrorWarning;
                var message = TurboJpegNative.ErrorString(handle);
                resetHandle = true;
                if (!warning) throw Error(handle, "decoding", endsWithEoi);
                if (!endsWithEoi && IsTruncationWarning(message))
                    throw new ImageDecodeException(ImageDecodeErrorKind.Truncated, $"image file is truncated (libjpeg: {message})");
                // Other libjpeg warnings (extraneous bytes, ...) are ignored, as Pillow ignores them.
            }
            if (raw is not null)
            {
                if (bpp == 1) PilConvert.ToRgb8(raw, 1, false, rgb, sw * sh);
                else PilConvert.CmykToRgb(raw, rgb, sw * sh, inverted: true);
            }
            return new RgbImage(sw, sh, rgb);
        }
    }

    private static bool IsTruncationWarning(string message) =>
        message.Contains("Premature end", StringComparison.OrdinalIgnoreCase) ||
        message.Contains("premature end of data segment", StringComparison.OrdinalIgnoreCase);

    private static ImageDecodeException Error(TurboJpegHandle handle, string stage, bool endsWithEoi)
    {
        var message = TurboJpegNative.ErrorString(handle);
        var kind = !endsWithEoi && IsTruncationWarning(message) ? ImageDecodeErrorKind.Truncated : ImageDecodeErrorKind.Corrupt;
        if (message.Contains("Unsupported", StringComparison.OrdinalIgnoreCase)) kind = ImageDecodeErrorKind.UnsupportedFeature;
        return new ImageDecodeException(kind, $"JPEG {stage} failed: {message}");
    }
}
