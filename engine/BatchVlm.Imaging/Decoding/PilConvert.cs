// Pillow 9.4's Image.convert("RGB") for each source layout, and ImageOps.exif_transpose. Reference:
// Pillow 9.4.0 src/libImaging/Convert.c (l2rgb, la2rgb, rgba2rgb, cmyk2rgb, i2rgb), Unpack.c (";16B" unpackers keep
// the high byte; "CMYK;I" inverts), Image.py (exif_transpose's method table).
namespace BatchVlm.Imaging.Decoding;

internal static class PilConvert
{
    /// <summary>8-bit samples with 1..4 bands → RGB. Grey is replicated, alpha is dropped (no matting), CMYK uses cmyk2rgb.</summary>
    internal static void ToRgb8(ReadOnlySpan<byte> src, int bands, bool cmyk, Span<byte> rgb, int pixels)
    {
        switch (bands)
        {
            case 3:
                src[..(pixels * 3)].CopyTo(rgb);
                break;
            case 1:
            case 2:
                for (int i = 0, s = 0, o = 0; i < pixels; i++, s += bands, o += 3)
                    rgb[o] = rgb[o + 1] = rgb[o + 2] = src[s];
                break;
            case 4 when cmyk:
                CmykToRgb(src, rgb, pixels, inverted: false);
                break;
            case 4:
                for (int i = 0, s = 0, o = 0; i < pixels; i++, s += 4, o += 3)
                {
                    rgb[o] = src[s]; rgb[o + 1] = src[s + 1]; rgb[o + 2] = src[s + 2];
                }
                break;
            default:
                throw new ImageDecodeException(ImageDecodeErrorKind.UnsupportedFeature, $"{bands} bands");
        }
    }

    /// <summary>
    /// 16-bit samples (PNG) → RGB as Pillow 9.4 opens them: one band = mode "I" whose convert("RGB") clips each value
    /// to 0..255 (i2rgb; it does not scale), 2 bands = "LA" from the high bytes, 3/4 bands = "RGB"/"RGBA" from the high bytes.
    /// </summary>
    internal static void ToRgb16(ReadOnlySpan<ushort> src, int bands, Span<byte> rgb, int pixels)
    {
        if (bands == 1)
        {
            for (int i = 0, o = 0; i < pixels; i++, o += 3)
                rgb[o] = rgb[o + 1] = rgb[o + 2] = (byte)Math.Min((int)src[i], 255);
            return;
        }
        for (int i = 0, s = 0, o = 0; i < pixels; i++, s += bands, o += 3)
        {
            if (bands == 2) rgb[o] = rgb[o + 1] = rgb[o + 2] = (byte)(src[s] >> 8);
            else { rgb[o] = (byte)(src[s] >> 8); rgb[o + 1] = (byte)(src[s + 1] >> 8); rgb[o + 2] = (byte)(src[s + 2] >> 8); }
        }
    }

    /// <summary>
    /// Pillow 9.4 cmyk2rgb: nk = 255 − K; channel = clip8(nk − nk·C/255) with MULDIV255 rounding. JPEG CMYK is read
    /// with rawmode "CMYK;I" (Adobe polarity, always assumed), i.e. the libjpeg samples are inverted first. An ICC
    /// profile is ignored, as PIL's convert ignores it.
    /// </summary>
    internal static void CmykToRgb(ReadOnlySpan<byte> src, Span<byte> rgb, int pixels, bool inverted)
    {
        int inv = inverted ? 255 : 0;
        for (int i = 0, s = 0, o = 0; i < pixels; i++, s += 4, o += 3)
        {
            int nk = 255 - (src[s + 3] ^ inv);
            rgb[o] = Clip8(nk - MulDiv255(src[s] ^ inv, nk));
            rgb[o + 1] = Clip8(nk - MulDiv255(src[s + 1] ^ inv, nk));
            rgb[o + 2] = Clip8(nk - MulDiv255(src[s + 2] ^ inv, nk));
        }
    }

    private static int MulDiv255(int a, int b)
    {
        int tmp = a * b + 128;
        return ((tmp >> 8) + tmp) >> 8;
    }

    private static byte Clip8(int v) => (byte)(v < 0 ? 0 : v > 255 ? 255 : v);

    /// <summary>
    /// PIL.ImageOps.exif_transpose for orientation 2..8 (1 and anything else: unchanged): 2 FLIP_LEFT_RIGHT,
    /// 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE, 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90.
    /// </summary>
    internal static RgbImage ExifTranspose(RgbImage image, int orientation)
    {
        if (orientation is < 2 or > 8) return image;
        int w = image.Width, h = image.Height;
        bool swap = orientation >= 5;
        int ow = swap ? h : w, oh = swap ? w : h;
        var src = image.Pixels;
        var dst = new byte[src.Length];
        for (int y = 0; y < oh; y++)
        {
            for (int x = 0; x < ow; x++)
            {
                // (sx, sy): the source pixel shown at output (x, y).
                (int sx, int sy) = orientation switch
                {
                    2 => (w - 1 - x, y),
                    3 => (w - 1 - x, h - 1 - y),
                    4 => (x, h - 1 - y),
                    5 => (y, x),                 // transpose
                    6 => (y, h - 1 - x),         // rotate 270 (90° clockwise)
                    7 => (w - 1 - y, h - 1 - x), // transverse
                    _ => (w - 1 - y, x),         // 8: rotate 90 (counter-clockwise)
                };
                int s = (sy * w + sx) * 3, d = (y * ow + x) * 3;
                dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2];
            }
        }
        return new RgbImage(ow, oh, dst);
    }
}
