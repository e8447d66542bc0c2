// Uncompressed BMP (1/4/8-bit palette, 24-bit, 32-bit BI_RGB or standard BI_BITFIELDS) with Pillow 9.4's reading
// (BmpImagePlugin.py): palette entries BGRX (BGR for the 12-byte OS/2 header), indices beyond the table read as the
// grey ramp, 32-bit alpha dropped by convert("RGB"), rows bottom-up unless the height is negative, rows padded to
// 4 bytes. libvips cannot load BMP without its untrusted ImageMagick loader, which stays blocked. RLE and 16-bit
// BMPs are refused as UnsupportedFeature.
using System.Buffers.Binary;

namespace BatchVlm.Imaging.Decoding;

internal static class BmpDecoder
{
    internal static RgbImage Decode(ReadOnlySpan<byte> d, DecodeOptions options)
    {
        if (d.Length < 26) throw Truncated();
        int dataOffset = BinaryPrimitives.ReadInt32LittleEndian(d[10..]);
        int headerSize = BinaryPrimitives.ReadInt32LittleEndian(d[14..]);
        int width, height, bpp, compression = 0, colorsUsed = 0;
        bool topDown = false;
        if (headerSize == 12)
        {
            width = BinaryPrimitives.ReadUInt16LittleEndian(d[18..]);
            height = BinaryPrimitives.ReadUInt16LittleEndian(d[20..]);
            bpp = BinaryPrimitives.ReadUInt16LittleEndian(d[24..]);
        }
        else if (headerSize is 40 or 52 or 56 or 64 or 108 or 124)
        {
            if (d.Length < 14 + 40) throw Truncated();
            width = BinaryPrimitives.ReadInt32LittleEndian(d[18..]);
            int h = BinaryPrimitives.ReadInt32LittleEndian(d[22..]);
            topDown = h < 0;
            height = StoredHeight(h);
            bpp = BinaryPrimitives.ReadUInt16LittleEndian(d[28..]);
            compression = BinaryPrimitives.ReadInt32LittleEndian(d[30..]);
            colorsUsed = BinaryPrimitives.ReadInt32LittleEndian(d[46..]);
        }
        else throw new ImageDecodeException(ImageDecodeErrorKind.UnsupportedFeature, $"BMP header size {headerSize} is not supported");

        ImageDecoder.CheckDimensions(width, height, options);
        if (compression == 3 && bpp == 32)
        {
            // BI_BITFIELDS: masks follow a 40-byte header (or sit inside a v4/v5 header at the same place).
            if (d.Length < 14 + 40 + 12) throw Truncated();
            uint r = BinaryPrimitives.ReadUInt32LittleEndian(d[54..]), g = BinaryPrimitives.ReadUInt32LittleEndian(d[58..]);
            uint b = BinaryPrimitives.ReadUInt32LittleEndian(d[62..]);
            if (r != 0xFF0000 || g != 0xFF00 || b != 0xFF)
                throw new ImageDecodeException(ImageDecodeErrorKind.UnsupportedFeature, $"BMP bit fields {r:X}/{g:X}/{b:X} are not supported");
        }
        else if (compression != 0)
            throw new ImageDecodeException(ImageDecodeErrorKind.UnsupportedFeature, $"BMP compression {compression} (RLE/JPEG/PNG) is not supported");
        if (bpp is not (1 or 4 or 8 or 24 or 32))
            throw new ImageDecodeException(ImageDecodeErrorKind.UnsupportedFeature, $"{bpp}-bit BMP is not supported");

        Span<byte> lut = stackalloc byte[768];
        for (int i = 0; i < 256; i++) lut[i * 3] = lut[i * 3 + 1] = lut[i * 3 + 2] = (byte)i;
        if (bpp <= 8)
        {
            int entry = headerSize == 12 ? 3 : 4;
            int colors = colorsUsed is > 0 and <= 256 ? colorsUsed : 1 << bpp;
            int p = 14 + headerSize;
            if (p + colors * entry > d.Length) throw Truncated();
            for (int i = 0; i < colors; i++)
            {
                lut[i * 3] = d[p + i * entry + 2];
                lut[i * 3 + 1] = d[p + i * entry + 1];
                lut[i * 3 + 2] = d[p + i * entry];
            }
        }
        long stride = ((long)width * bpp + 31) / 32 * 4;
        if (dataOffset < 0 || dataOffset + stride * height > d.Length) throw Truncated();
        var rgb = new byte[checked(width * height * 3)];
        for (int y = 0; y < height; y++)
        {
            var row = d.Slice((int)(dataOffset + stride * (topDown ? y : height - 1 - y)), (int)stride);
            int o = y * width * 3;
            for (int x = 0; x < width; x++, o += 3)
            {
                switch (bpp)
                {
                    case 24:
                        rgb[o] = row[x * 3 + 2]; rgb[o + 1] = row[x * 3 + 1]; rgb[o + 2] = row[x * 3];
                        break;
                    case 32:
                        rgb[o] = row[x * 4 + 2]; rgb[o + 1] = row[x * 4 + 1]; rgb[o + 2] = row[x * 4];
                        break;
                    default:
                        int perByte = 8 / bpp;
                        int index = (row[x / perByte] >> (8 - bpp * (x % perByte + 1))) & ((1 << bpp) - 1);
                        rgb[o] = lut[index * 3]; rgb[o + 1] = lut[index * 3 + 1]; rgb[o + 2] = lut[index * 3 + 2];
                        break;
                }
            }
        }
        return new RgbImage(width, height, rgb);
    }

    /// <summary>
    /// The row count of a BITMAPINFOHEADER height (negative = top-down). int.MinValue has no absolute value: it reads as
    /// 0 rows, which the dimension check refuses (Math.Abs would throw OverflowException on hostile bytes).
    /// </summary>
    internal static int StoredHeight(int height) => height == int.MinValue ? 0 : Math.Abs(height);

    private static ImageDecodeException Truncated() => new(ImageDecodeErrorKind.Truncated, "image file is truncated (BMP)");
}
