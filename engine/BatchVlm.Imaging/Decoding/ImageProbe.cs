// Header-only parsing: sniff the format from magic bytes and read width, height, bands and the EXIF orientation
// without decoding pixels. JPEG, PNG, GIF, WebP and BMP are parsed here (cheap, no native call); other formats
// (TIFF, HEIF, JXL) ask libvips, whose loaders read only the header until pixels are requested.
// EXIF semantics follow Pillow 9.4 Image.getexif / ImageOps.exif_transpose (tag 0x0112 in IFD0).
using System.Buffers.Binary;

namespace BatchVlm.Imaging.Decoding;

internal static class ImageProbe
{
    private static ReadOnlySpan<byte> PngSignature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    internal static ImageFormat Sniff(ReadOnlySpan<byte> d)
    {
        if (d.Length >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return ImageFormat.Jpeg;
        if (d.Length >= 8 && d[..8].SequenceEqual(PngSignature)) return ImageFormat.Png;
        if (d.Length >= 6 && (d[..6].SequenceEqual("GIF87a"u8) || d[..6].SequenceEqual("GIF89a"u8))) return ImageFormat.Gif;
        if (d.Length >= 12 && d[..4].SequenceEqual("RIFF"u8) && d.Slice(8, 4).SequenceEqual("WEBP"u8)) return ImageFormat.WebP;
        if (d.Length >= 4 && (d[..4].SequenceEqual("II*\0"u8) || d[..4].SequenceEqual("MM\0*"u8))) return ImageFormat.Tiff;
        if (d.Length >= 2 && d[0] == (byte)'B' && d[1] == (byte)'M') return ImageFormat.Bmp;
        if (d.Length >= 12 && d.Slice(4, 4).SequenceEqual("ftyp"u8))
        {
            var brand = d.Slice(8, 4);
            if (brand.SequenceEqual("heic"u8) || brand.SequenceEqual("heix"u8) || brand.SequenceEqual("mif1"u8) ||
                brand.SequenceEqual("msf1"u8) || brand.SequenceEqual("avif"u8) || brand.SequenceEqual("avis"u8))
                return ImageFormat.Heif;
        }
        if (d.Length >= 2 && d[0] == 0xFF && d[1] == 0x0A) return ImageFormat.Jxl;
        if (d.Length >= 12 && d[..12].SequenceEqual(new byte[] { 0, 0, 0, 0x0C, (byte)'J', (byte)'X', (byte)'L', (byte)' ', 0x0D, 0x0A, 0x87, 0x0A }))
            return ImageFormat.Jxl;
        return ImageFormat.Unknown;
    }

    /// <summary>Reads the header. Throws ImageDecodeException for empty, truncated, corrupt or unknown data.</summary>
    internal static ImageInfo Probe(ReadOnlySpan<byte> d)
    {
        if (d.IsEmpty) throw new ImageDecodeException(ImageDecodeErrorKind.Empty, "zero bytes");
        var format = Sniff(d);
        return format switch
        {
            ImageFormat.Jpeg => ProbeJpeg(d),
            ImageFormat.Png => ProbePng(d),
            ImageFormat.Gif => ProbeGif(d),
            ImageFormat.WebP => ProbeWebP(d),
            ImageFormat.Bmp => ProbeBmp(d),
            ImageFormat.Unknown => throw new ImageDecodeException(ImageDecodeErrorKind.UnsupportedFormat,
                $"not a recognised image format (first bytes: {Convert.ToHexString(d[..Math.Min(8, d.Length)])})"),
            _ => VipsDecoder.ProbeHeader(d, format),
        };
    }

    private static ImageDecodeException Truncated(string what) => new(ImageDecodeErrorKind.Truncated, what);
    private static ImageDecodeException Corrupt(string what) => new(ImageDecodeErrorKind.Corrupt, what);

    // ---- JPEG: markers up to the first SOF; APP1 "Exif" for the orientation. ----
    internal static ImageInfo ProbeJpeg(ReadOnlySpan<byte> d)
    {
        int pos = 2, orientation = 1;
        while (true)
        {
            // Skip to the next 0xFF, then over fill bytes, as libjpeg's next_marker does.
            while (pos < d.Length && d[pos] != 0xFF) pos++;
            while (pos < d.Length && d[pos] == 0xFF) pos++;
            if (pos >= d.Length) throw Truncated("JPEG data ends before the frame header (SOF)");
            byte marker = d[pos++];
            if (marker == 0xD8 || marker is >= 0xD0 and <= 0xD7 || marker == 0x01) continue; // no length
            if (marker == 0xD9) throw Corrupt("JPEG end-of-image marker before any frame header");
            if (marker == 0xDA) throw Corrupt("JPEG scan data before any frame header (SOF)");
            if (pos + 2 > d.Length) throw Truncated("JPEG data ends inside a marker segment");
            int len = BinaryPrimitives.ReadUInt16BigEndian(d[pos..]);
            if (len < 2) throw Corrupt($"JPEG marker 0xFF{marker:X2} has an invalid length {len}");
            if (pos + len > d.Length) throw Truncated("JPEG data ends inside a marker segment");
            var seg = d.Slice(pos + 2, len - 2);
            if (marker == 0xE1 && seg.Length > 6 && seg[..6].SequenceEqual("Exif\0\0"u8))
                orientation = ExifOrientation(seg[6..]);
            bool isSof = marker is >= 0xC0 and <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
            if (isSof)
            {
                if (seg.Length < 6) throw Corrupt("JPEG frame header too short");
                int bits = seg[0], height = BinaryPrimitives.ReadUInt16BigEndian(seg[1..]);
                int width = BinaryPrimitives.ReadUInt16BigEndian(seg[3..]), comps = seg[5];
                if (bits != 8)
                    throw new ImageDecodeException(ImageDecodeErrorKind.UnsupportedFeature, $"cannot handle {bits}-bit JPEG layers");
                if (comps is not (1 or 3 or 4))
                    throw new ImageDecodeException(ImageDecodeErrorKind.UnsupportedFeature, $"cannot handle {comps}-layer JPEG images");
                if (marker is 0xC3 or 0xC7 or 0xCB or 0xCF)
                    throw new ImageDecodeException(ImageDecodeErrorKind.UnsupportedFeature, "lossless JPEG is not supported");
                // Orientation is in APP1, which precedes SOF in valid files; keep scanning is unnecessary.
                return new ImageInfo(ImageFormat.Jpeg, width, height, comps, orientation);
            }
            pos += len;
        }
    }

    /// <summary>
    /// Orientation tag 0x0112 from a TIFF-structured EXIF block (with or without the "Exif\0\0" prefix). Returns 1 when
    /// absent or unreadable: PIL also ignores unreadable EXIF for exif_transpose.
    /// </summary>
    internal static int ExifOrientation(ReadOnlySpan<byte> tiff)
    {
        if (tiff.Length >= 6 && tiff[..6].SequenceEqual("Exif\0\0"u8)) tiff = tiff[6..];
        if (tiff.Length < 8) return 1;
        bool le;
        if (tiff[0] == 'I' && tiff[1] == 'I') le = true;
        else if (tiff[0] == 'M' && tiff[1] == 'M') le = false;
        else return 1;
        uint ifd = U32(tiff, 4, le);
        if (ifd > tiff.Length - 2) return 1;
        int n = U16(tiff, (int)ifd, le);
        for (int i = 0; i < n; i++)
        {
            int e = (int)ifd + 2 + 12 * i;
            if (e + 12 > tiff.Length) return 1;
            if (U16(tiff, e, le) != 0x0112) continue;
            int type = U16(tiff, e + 2, le);
            int v = type switch { 3 => U16(tiff, e + 8, le), 4 => (int)Math.Min(U32(tiff, e + 8, le), int.MaxValue), 1 or 7 => tiff[e + 8], _ => 1 };
            return v is >= 1 and <= 8 ? v : 1;
        }
        return 1;
    }

    private static uint U32(ReadOnlySpan<byte> b, int o, bool le) =>
        le ? BinaryPrimitives.ReadUInt32LittleEndian(b[o..]) : BinaryPrimitives.ReadUInt32BigEndian(b[o..]);

    private static ushort U16(ReadOnlySpan<byte> b, int o, bool le) =>
        le ? BinaryPrimitives.ReadUInt16LittleEndian(b[o..]) : BinaryPrimitives.ReadUInt16BigEndian(b[o..]);

    /// <summary>Whether the container ends before its own structure says it should (PNG: no complete IEND; WebP: RIFF size).</summary>
    internal static bool LooksTruncated(ImageFormat format, ReadOnlySpan<byte> d)
    {
        switch (format)
        {
            case ImageFormat.Png:
                long pos = 8;
                while (pos + 12 <= d.Length)
                {
                    long len = BinaryPrimitives.ReadUInt32BigEndian(d[(int)pos..]);
                    if (pos + 12 + len > d.Length) return true;
                    if (d.Slice((int)pos + 4, 4).SequenceEqual("IEND"u8)) return false;
                    pos += 12 + len;
                }
                return true;
            case ImageFormat.WebP:
                return d.Length < 12 || BinaryPrimitives.ReadUInt32LittleEndian(d[4..]) + 8L > d.Length;
            default:
                return false;
        }
    }

    // ---- PNG: IHDR, then walk the chunks for eXIf (PIL also reads a trailing eXIf). ----
    private static ImageInfo ProbePng(ReadOnlySpan<byte> d)
    {
        if (d.Length < 33) throw Truncated("PNG data ends inside the IHDR chunk");
        if (!d.Slice(12, 4).SequenceEqual("IHDR"u8)) throw Corrupt("PNG does not start with an IHDR chunk");
        int width = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(d[16..]), int.MaxValue);
        int height = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(d[20..]), int.MaxValue);
        int colorType = d[25];
        int bands = colorType switch
        {
            0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4,
            _ => throw Corrupt($"PNG has an invalid colour type {colorType}"),
        };
        int orientation = 1, frames = 1;
        long pos = 8;
        while (pos + 12 <= d.Length)
        {
            long len = BinaryPrimitives.ReadUInt32BigEndian(d[(int)pos..]);
            var type = d.Slice((int)pos + 4, 4);
            if (pos + 12 + len > d.Length) break;
            var body = d.Slice((int)pos + 8, (int)len);
            if (type.SequenceEqual("eXIf"u8)) orientation = ExifOrientation(body);
            else if (type.SequenceEqual("acTL"u8) && len >= 4) frames = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(body), int.MaxValue);
            else if (type.SequenceEqual("IEND"u8)) break;
            pos += 12 + len;
        }
        return new ImageInfo(ImageFormat.Png, width, height, bands, orientation, Math.Max(frames, 1));
    }

    // ---- GIF: logical screen size (what PIL and libvips report), frames counted by walking the blocks. ----
    private static ImageInfo ProbeGif(ReadOnlySpan<byte> d)
    {
        if (d.Length < 13) throw Truncated("GIF data ends inside the screen descriptor");
        int width = BinaryPrimitives.ReadUInt16LittleEndian(d[6..]), height = BinaryPrimitives.ReadUInt16LittleEndian(d[8..]);
        int pos = 13, frames = 0;
        if ((d[10] & 0x80) != 0) pos += 3 << ((d[10] & 7) + 1);
        int screenW = width, screenH = height;
        while (pos < d.Length)
        {
            byte b = d[pos++];
            if (b == 0x3B) break; // trailer
            if (b == 0x21) { pos++; pos = SkipSubBlocks(d, pos); }
            else if (b == 0x2C)
            {
                if (pos + 9 > d.Length) break;
                byte flags = d[pos + 8];
                if (frames == 0)
                {
                    // Pillow grows the image to cover the first frame.
                    width = Math.Max(screenW, BinaryPrimitives.ReadUInt16LittleEndian(d[pos..]) + BinaryPrimitives.ReadUInt16LittleEndian(d[(pos + 4)..]));
                    height = Math.Max(screenH, BinaryPrimitives.ReadUInt16LittleEndian(d[(pos + 2)..]) + BinaryPrimitives.ReadUInt16LittleEndian(d[(pos + 6)..]));
                }
                pos += 9;
                if ((flags & 0x80) != 0) pos += 3 << ((flags & 7) + 1);
                pos++; // LZW minimum code size
                pos = SkipSubBlocks(d, pos);
                frames++;
            }
            else break;
        }
        return new ImageInfo(ImageFormat.Gif, width, height, 1, 1, Math.Max(frames, 1));
    }

    private static int SkipSubBlocks(ReadOnlySpan<byte> d, int pos)
    {
        while (pos < d.Length)
        {
            int n = d[pos++];
            if (n == 0) return pos;
            pos += n;
        }
        return int.MaxValue;
    }

    // ---- WebP: VP8 / VP8L / VP8X headers; EXIF chunk for the orientation. ----
    private static ImageInfo ProbeWebP(ReadOnlySpan<byte> d)
    {
        if (d.Length < 30) throw Truncated("WebP data ends inside the first chunk header");
        var fourcc = d.Slice(12, 4);
        var body = d[20..];
        if (fourcc.SequenceEqual("VP8 "u8))
        {
            if (body[3] != 0x9D || body[4] != 0x01 || body[5] != 0x2A) throw Corrupt("WebP VP8 frame has a bad start code");
            int w = BinaryPrimitives.ReadUInt16LittleEndian(body[6..]) & 0x3FFF, h = BinaryPrimitives.ReadUInt16LittleEndian(body[8..]) & 0x3FFF;
            return new ImageInfo(ImageFormat.WebP, w, h, 3, 1);
        }
        if (fourcc.SequenceEqual("VP8L"u8))
        {
            if (body[0] != 0x2F) throw Corrupt("WebP VP8L stream has a bad signature");
            uint bits = BinaryPrimitives.ReadUInt32LittleEndian(body[1..]);
            int w = (int)(bits & 0x3FFF) + 1, h = (int)((bits >> 14) & 0x3FFF) + 1;
            bool alpha = ((bits >> 28) & 1) != 0;
            return new ImageInfo(ImageFormat.WebP, w, h, alpha ? 4 : 3, 1);
        }
        if (fourcc.SequenceEqual("VP8X"u8))
        {
            byte flags = body[0];
            int w = (body[4] | body[5] << 8 | body[6] << 16) + 1, h = (body[7] | body[8] << 8 | body[9] << 16) + 1;
            int orientation = 1, frames = 0;
            long pos = 12;
            while (pos + 8 <= d.Length)
            {
                long len = BinaryPrimitives.ReadUInt32LittleEndian(d[((int)pos + 4)..]);
                var type = d.Slice((int)pos, 4);
                if (pos + 8 + len > d.Length) break;
                if (type.SequenceEqual("EXIF"u8)) orientation = ExifOrientation(d.Slice((int)pos + 8, (int)len));
                else if (type.SequenceEqual("ANMF"u8)) frames++;
                pos += 8 + len + (len & 1);
            }
            return new ImageInfo(ImageFormat.WebP, w, h, (flags & 0x10) != 0 ? 4 : 3, orientation, Math.Max(frames, 1));
        }
        throw Corrupt($"WebP has an unknown first chunk '{System.Text.Encoding.ASCII.GetString(fourcc)}'");
    }

    // ---- BMP: BITMAPINFOHEADER and later; the OS/2 core header (12 bytes) has 16-bit sizes. ----
    private static ImageInfo ProbeBmp(ReadOnlySpan<byte> d)
    {
        if (d.Length < 26) throw Truncated("BMP data ends inside the header");
        int headerSize = BinaryPrimitives.ReadInt32LittleEndian(d[14..]);
        int width, height, bpp;
        if (headerSize == 12)
        {
            width = BinaryPrimitives.ReadUInt16LittleEndian(d[18..]); height = BinaryPrimitives.ReadUInt16LittleEndian(d[20..]);
            bpp = BinaryPrimitives.ReadUInt16LittleEndian(d[24..]);
        }
        else
        {
            if (d.Length < 30) throw Truncated("BMP data ends inside the header");
            width = BinaryPrimitives.ReadInt32LittleEndian(d[18..]); height = BmpDecoder.StoredHeight(BinaryPrimitives.ReadInt32LittleEndian(d[22..]));
            bpp = BinaryPrimitives.ReadUInt16LittleEndian(d[28..]);
        }
        return new ImageInfo(ImageFormat.Bmp, width, height, bpp == 32 ? 4 : bpp <= 8 ? 1 : 3, 1);
    }
}
