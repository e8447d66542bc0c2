// First-frame GIF decoder with Pillow 9.4's semantics (GifImagePlugin.py + GifDecode.c), written here because
// libvips renders transparent pixels as transparent black while Pillow keeps the palette index, whose palette colour
// is what convert("RGB") shows. Pillow's frame 0: canvas = logical screen (grown to cover the frame), filled with the
// transparency index when the frame has one, else index 0; the frame's LZW data painted at its offset; palette =
// the local table, else the global one; indices beyond the table read as the grey ramp (ImagingPaletteNew); no
// table at all = mode "L" (index as grey). The LZW stream may end early (end code) — the rest keeps the fill — but
// running out of bytes first is "image file is truncated", as in Pillow.
using System.Buffers.Binary;

namespace BatchVlm.Imaging.Decoding;

internal static class GifDecoder
{
    internal static RgbImage Decode(ReadOnlySpan<byte> d, DecodeOptions options)
    {
        if (d.Length < 13) throw Truncated();
        int screenW = BinaryPrimitives.ReadUInt16LittleEndian(d[6..]), screenH = BinaryPrimitives.ReadUInt16LittleEndian(d[8..]);
        byte flags = d[10];
        int pos = 13;
        ReadOnlySpan<byte> globalPalette = default;
        if ((flags & 0x80) != 0)
        {
            int n = 3 << ((flags & 7) + 1);
            if (pos + n > d.Length) throw Truncated();
            globalPalette = d.Slice(pos, n);
            pos += n;
        }
        int? transparency = null;
        while (true)
        {
            if (pos >= d.Length) throw Truncated();
            byte b = d[pos++];
            if (b == 0x3B) throw new ImageDecodeException(ImageDecodeErrorKind.Corrupt, "GIF has no image frame");
            if (b == 0x21)
            {
                if (pos >= d.Length) throw Truncated();
                byte label = d[pos++];
                int blockStart = pos;
                if (label == 0xF9 && pos < d.Length && d[pos] >= 4 && pos + 5 <= d.Length && (d[pos + 1] & 1) != 0)
                    transparency = d[pos + 4];
                pos = SkipSubBlocks(d, blockStart);
                continue;
            }
            if (b != 0x2C) throw new ImageDecodeException(ImageDecodeErrorKind.Corrupt, $"GIF has an unknown block 0x{b:X2}");
            break;
        }
        if (pos + 9 > d.Length) throw Truncated();
        int x0 = BinaryPrimitives.ReadUInt16LittleEndian(d[pos..]), y0 = BinaryPrimitives.ReadUInt16LittleEndian(d[(pos + 2)..]);
        int fw = BinaryPrimitives.ReadUInt16LittleEndian(d[(pos + 4)..]), fh = BinaryPrimitives.ReadUInt16LittleEndian(d[(pos + 6)..]);
        byte fflags = d[pos + 8];
        pos += 9;
        var palette = globalPalette;
        if ((fflags & 0x80) != 0)
        {
            int n = 3 << ((fflags & 7) + 1);
            if (pos + n > d.Length) throw Truncated();
            palette = d.Slice(pos, n);
            pos += n;
        }
        bool interlaced = (fflags & 0x40) != 0;
        int width = Math.Max(screenW, x0 + fw), height = Math.Max(screenH, y0 + fh);
        ImageDecoder.CheckDimensions(width, height, options);
        var indices = new byte[width * height];
        if (transparency is { } t) Array.Fill(indices, (byte)t);
        if (pos >= d.Length) throw Truncated();
        int minCodeSize = d[pos++];
        if (minCodeSize is < 1 or > 11) throw new ImageDecodeException(ImageDecodeErrorKind.Corrupt, $"GIF LZW code size {minCodeSize} is invalid");
        if (fw > 0 && fh > 0) Lzw(d, pos, minCodeSize, indices, width, x0, y0, fw, fh, interlaced);

        // Palette lookup (convert("RGB")); a missing palette means mode "L".
        Span<byte> lut = stackalloc byte[768];
        for (int i = 0; i < 256; i++) lut[i * 3] = lut[i * 3 + 1] = lut[i * 3 + 2] = (byte)i;
        palette.CopyTo(lut);
        var rgb = new byte[width * height * 3];
        for (int i = 0; i < indices.Length; i++)
        {
            int k = indices[i] * 3;
            rgb[i * 3] = lut[k]; rgb[i * 3 + 1] = lut[k + 1]; rgb[i * 3 + 2] = lut[k + 2];
        }
        return new RgbImage(width, height, rgb);
    }

    private static ImageDecodeException Truncated() => new(ImageDecodeErrorKind.Truncated, "image file is truncated (GIF)");

    private static int SkipSubBlocks(ReadOnlySpan<byte> d, int pos)
    {
        while (true)
        {
            if (pos >= d.Length) throw Truncated();
            int n = d[pos++];
            if (n == 0) return pos;
            pos += n;
        }
    }

    private static void Lzw(ReadOnlySpan<byte> d, int pos, int minCodeSize, byte[] dst, int stride, int x0, int y0, int fw, int fh, bool interlaced)
    {
        int clear = 1 << minCodeSize, end = clear + 1;
        var prefix = new short[4096];
        var suffix = new byte[4096];
        var stack = new byte[4097];
        int codeSize = minCodeSize + 1, next = clear + 2, old = -1;
        byte first = 0;
        int bitBuf = 0, bitCount = 0;
        int block = 0; // bytes left in the current sub-block
        long total = (long)fw * fh, written = 0;
        int x = 0, y = 0, pass = 0;
        ReadOnlySpan<int> passStart = [0, 4, 2, 1], passStep = [8, 8, 4, 2];

        while (written < total)
        {
            while (bitCount < codeSize)
            {
                if (block == 0)
                {
                    if (pos >= d.Length) throw Truncated();
                    block = d[pos++];
                    if (block == 0) return; // stream terminator before all pixels: Pillow keeps the fill
                }
                if (pos >= d.Length) throw Truncated();
                bitBuf |= d[pos++] << bitCount;
                bitCount += 8;
                block--;
            }
            int code = bitBuf & ((1 << codeSize) - 1);
            bitBuf >>= codeSize;
            bitCount -= codeSize;
            if (code == clear) { codeSize = minCodeSize + 1; next = clear + 2; old = -1; continue; }
            if (code == end) return;
            int sp = 0, cur = code;
            if (old == -1)
            {
                if (code >= clear) throw new ImageDecodeException(ImageDecodeErrorKind.Corrupt, "GIF LZW data is corrupt");
                stack[sp++] = (byte)code;
                first = (byte)code;
            }
            else
            {
                if (code > next || (code == next && next >= 4096))
                    throw new ImageDecodeException(ImageDecodeErrorKind.Corrupt, "GIF LZW data is corrupt");
                if (code == next) { stack[sp++] = first; cur = old; }
                while (cur >= clear) { stack[sp++] = suffix[cur]; cur = prefix[cur]; }
                stack[sp++] = (byte)cur;
                first = (byte)cur;
                if (next < 4096)
                {
                    prefix[next] = (short)old;
                    suffix[next] = first;
                    next++;
                    if (next == 1 << codeSize && codeSize < 12) codeSize++;
                }
            }
            old = code;
            while (sp > 0 && written < total)
            {
                dst[(y0 + y) * stride + x0 + x] = stack[--sp];
                written++;
                if (++x == fw)
                {
                    x = 0;
                    if (!interlaced) y++;
                    else
                    {
                        y += passStep[pass];
                        while (y >= fh && pass < 3) { pass++; y = passStart[pass]; }
                    }
                    if (y >= fh) return;
                }
            }
        }
    }
}
