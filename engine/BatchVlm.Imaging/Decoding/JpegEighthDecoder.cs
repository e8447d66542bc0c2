// Fast 1/8-scale JPEG decoding for shrink-on-load, producing the same pixels as libjpeg-turbo 2.1.5 scaled by 1/8
// (and so as Pillow's draft() decode), for baseline Huffman JPEGs in grey, 4:4:4 or 4:2:0 YCbCr.
// At 1/8, libjpeg reduces each luma block to its DC (jpeg_idct_1x1) and each 4:2:0 chroma block to 2x2 samples
// (jpeg_idct_2x2, which reads coefficients in rows/columns 0, 1, 3, 5, 7), so chroma needs no upsampling.
// The speed comes from luma: its AC coefficients are never decoded, only skipped, with a table that consumes as many
// whole (code + magnitude) symbols as fit in 12 bits per lookup. Chroma blocks are decoded normally.
// References: ITU-T T.81 Annex F (Huffman decoding), libjpeg-turbo 2.1.5 jdmaster.c (scaled DCT sizes),
// jidctred.c (jpeg_idct_1x1, jpeg_idct_2x2), jdcolor.c (ycc_rgb_convert tables).
// Anything else (progressive, arithmetic, 12-bit, 4:2:2, CMYK, RGB-coded, entropy errors, restart mismatches,
// truncation) returns null: the caller decodes with TurboJPEG, which also produces the Pillow-compatible errors.
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BatchVlm.Imaging.Decoding;

internal static class JpegEighthDecoder
{
    private const int LookBits = 12;

    private static readonly byte[] Natural =
    [
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
        28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
        54, 47, 55, 62, 63,
        // padding so that a corrupt run past 63 stays in bounds
        63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
    ];

    private sealed class Huffman
    {
        public readonly int[] MaxCode = new int[17];
        public readonly int[] MinCode = new int[17];
        public readonly int[] ValPtr = new int[17];
        public byte[] Symbols = [];
        /// <summary>peek(12) → (length << 8) | symbol; 0 when the code is longer than 12 bits.</summary>
        public readonly ushort[] Lookup = new ushort[1 << LookBits];
        /// <summary>
        /// AC skip, peek(12) → bits consumed (0..4) | positions advanced by the non-EOB symbols (5..11) | ends with EOB (12);
        /// 0 when not even one symbol with its magnitude bits fits in 12 bits.
        /// </summary>
        public readonly ushort[] Skip = new ushort[1 << LookBits];
    }

    internal static RgbImage? TryDecode(ReadOnlySpan<byte> d, Func<int, byte[]> allocate)
    {
        var dcTables = new Huffman?[4];
        var acTables = new Huffman?[4];
        var quant = new int[4][];
        int width = 0, height = 0, restart = 0, pos = 2, nf = 0;
        Span<int> id = stackalloc int[3], hs = stackalloc int[3], vs = stackalloc int[3], tq = stackalloc int[3];
        Span<int> td = stackalloc int[3], ta = stackalloc int[3];
        bool adobeRgb = false;
        while (true)
        {
            if (pos + 4 > d.Length || d[pos] != 0xFF) return null;
            byte marker = d[pos + 1];
            if (marker == 0xFF) { pos++; continue; }
            int len = BinaryPrimitives.ReadUInt16BigEndian(d[(pos + 2)..]);
            if (len < 2 || pos + 2 + len > d.Length) return null;
            var seg = d.Slice(pos + 4, len - 2);
            switch (marker)
            {
                case 0xDB:
                    for (int o = 0; o < seg.Length;)
                    {
                        int pq = seg[o] >> 4, t = seg[o] & 15;
                        int size = pq == 0 ? 64 : 128;
                        if (t > 3 || pq > 1 || o + 1 + size > seg.Length) return null;
                        var q = new int[64];
                        // libjpeg keeps the multipliers as ISLOW_MULT_TYPE (short): 16-bit values above 32767 wrap.
                        for (int i = 0; i < 64; i++)
                            q[Natural[i]] = pq == 0 ? seg[o + 1 + i] : (short)BinaryPrimitives.ReadUInt16BigEndian(seg[(o + 1 + 2 * i)..]);
                        quant[t] = q;
                        o += 1 + size;
                    }
                    break;
                case 0xC4:
                    for (int o = 0; o < seg.Length;)
                    {
                        if (o + 17 > seg.Length) return null;
                        int tc = seg[o] >> 4, th = seg[o] & 15, total = 0;
                        if (tc > 1 || th > 3) return null;
                        for (int i = 1; i <= 16; i++) total += seg[o + i];
                        if (total > 256 || o + 17 + total > seg.Length) return null;
                        var table = Build(seg.Slice(o + 1, 16), seg.Slice(o + 17, total), tc == 1);
                        if (table is null) return null;
                        (tc == 0 ? dcTables : acTables)[th] = table;
                        o += 17 + total;
                    }
                    break;
                case 0xC0 or 0xC1:
                    // A second SOF is JERR_SOF_DUPLICATE in libjpeg; taking its size would also bypass the caller's
                    // dimension check, which read the first one.
                    if (nf != 0 || seg.Length < 6 || seg[0] != 8) return null;
                    height = BinaryPrimitives.ReadUInt16BigEndian(seg[1..]);
                    width = BinaryPrimitives.ReadUInt16BigEndian(seg[3..]);
                    nf = seg[5];
                    // libjpeg's get_sof insists on the exact length (JERR_BAD_LENGTH), as do get_sos and get_dri below.
                    if (nf is not (1 or 3) || seg.Length != 6 + 3 * nf || width == 0 || height == 0) return null;
                    for (int i = 0; i < nf; i++)
                    {
                        id[i] = seg[6 + 3 * i]; hs[i] = seg[7 + 3 * i] >> 4; vs[i] = seg[7 + 3 * i] & 15; tq[i] = seg[8 + 3 * i];
                        if (tq[i] > 3) return null;
                    }
                    if (nf == 1 && (hs[0] != 1 || vs[0] != 1)) return null;
                    if (nf == 3)
                    {
                        bool s444 = hs[0] == 1 && vs[0] == 1;
                        bool s420 = hs[0] == 2 && vs[0] == 2;
                        if (!(s444 || s420) || hs[1] != 1 || vs[1] != 1 || hs[2] != 1 || vs[2] != 1) return null;
                    }
                    break;
                case >= 0xC2 and <= 0xCF when marker is not (0xC4 or 0xC8 or 0xCC):
                    return null; // progressive, lossless, arithmetic, hierarchical
                case 0xDD:
                    if (seg.Length != 2) return null;
                    restart = BinaryPrimitives.ReadUInt16BigEndian(seg);
                    break;
                case 0xEE:
                    // Adobe APP14 transform 0 on 3 components = RGB-coded: libjpeg does no YCbCr conversion.
                    if (seg.Length >= 12 && seg[..5].SequenceEqual("Adobe"u8) && seg[11] == 0) adobeRgb = true;
                    break;
                case 0xDA:
                    if (nf == 0 || adobeRgb || seg.Length < 1) return null;
                    if (seg[0] != nf || seg.Length != 1 + 2 * nf + 3) return null;
                    if (nf == 3 && id[0] == 'R' && id[1] == 'G' && id[2] == 'B') return null;
                    for (int i = 0; i < nf; i++)
                    {
                        if (seg[1 + 2 * i] != id[i]) return null;
                        td[i] = seg[2 + 2 * i] >> 4; ta[i] = seg[2 + 2 * i] & 15;
                        if (td[i] > 3 || ta[i] > 3 || dcTables[td[i]] is null || acTables[ta[i]] is null || quant[tq[i]] is null) return null;
                    }
                    if (seg[1 + 2 * nf] != 0 || seg[2 + 2 * nf] != 63 || seg[3 + 2 * nf] != 0) return null;
                    return DecodeScan(d, pos + 2 + len, width, height, nf, hs[0] == 2, td, ta, tq, dcTables, acTables, quant, restart, allocate);
                case (>= 0xE0 and <= 0xEF) or 0xFE:
                    break; // APPn, COM
                default:
                    return null; // libjpeg: "Unsupported marker type" (or DNL, DHP, EXP): leave it to TurboJPEG
            }
            pos += 2 + len;
        }
    }

    private static Huffman? Build(ReadOnlySpan<byte> counts, ReadOnlySpan<byte> symbols, bool isAc)
    {
        var h = new Huffman { Symbols = symbols.ToArray() };
        if (!isAc)
            foreach (var sym in symbols)
                if (sym > 15) return null; // jdhuff.c validates DC symbols
        int code = 0, k = 0;
        for (int l = 1; l <= 16; l++)
        {
            int n = counts[l - 1];
            h.ValPtr[l] = k;
            h.MinCode[l] = code;
            for (int i = 0; i < n; i++, k++, code++)
            {
                if (l > LookBits) continue;
                int shift = LookBits - l;
                for (int fill = 0; fill < 1 << shift; fill++)
                    h.Lookup[(code << shift) | fill] = (ushort)((l << 8) | h.Symbols[k]);
            }
            h.MaxCode[l] = n == 0 ? -1 : code - 1;
            if (code >= 1 << l) return null; // jdhuff.c: "Bogus Huffman table definition"
            code <<= 1;
        }
        if (isAc)
        {
            // Multi-symbol skip entries: walk whole symbols inside the 12-bit window.
            for (int idx = 0; idx < 1 << LookBits; idx++)
            {
                int used = 0, advance = 0;
                bool eob = false;
                while (true)
                {
                    int e = h.Lookup[(idx << used) & ((1 << LookBits) - 1)];
                    if (e == 0) break;
                    int l = e >> 8, sym = e & 0xFF, r = sym >> 4, s = sym & 15;
                    if (used + l + s > LookBits) break;
                    used += l + s;
                    if (s == 0 && r != 15) { eob = true; break; }
                    advance += s == 0 ? 16 : r + 1;
                    if (advance >= 63) break;
                }
                if (used > 0) h.Skip[idx] = (ushort)(used | (advance << 5) | (eob ? 1 << 12 : 0));
            }
        }
        return h;
    }

    private ref struct BitReader(ReadOnlySpan<byte> d, int pos)
    {
        private readonly ReadOnlySpan<byte> _d = d;
        public int Pos = pos;
        private ulong _buf; // MSB-aligned
        private int _bits;
        private int _fed;   // zero bits fed after the data ended or a marker was reached

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Fill()
        {
            if (_bits > 32) return;
            if (Pos + 8 <= _d.Length)
            {
                ulong x = BinaryPrimitives.ReadUInt64BigEndian(_d[Pos..]);
                ulong y = ~x;
                if (((y - 0x0101010101010101UL) & ~y & 0x8080808080808080UL) == 0)
                {
                    int n = (64 - _bits) >> 3;
                    _buf |= (n == 8 ? x : x & ~((1UL << (64 - 8 * n)) - 1)) >> _bits;
                    _bits += 8 * n;
                    Pos += n;
                    return;
                }
            }
            FillSlow();
        }

        private void FillSlow()
        {
            while (_bits <= 56)
            {
                int b;
                if (Pos < _d.Length && _d[Pos] != 0xFF) b = _d[Pos++];
                else if (Pos + 1 < _d.Length && _d[Pos] == 0xFF && _d[Pos + 1] == 0x00) { b = 0xFF; Pos += 2; }
                else { b = 0; _fed += 8; } // marker or end of data: feed zeros, do not consume
                _buf |= (ulong)b << (56 - _bits);
                _bits += 8;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly int Peek(int n) => (int)(_buf >> (64 - n));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Skip(int n) { _buf <<= n; _bits -= n; }

        /// <summary>True when bits past the real data were consumed (truncated or corrupt stream).</summary>
        public readonly bool Overrun => _fed > _bits;

        /// <summary>
        /// After the last MCU: only padding is left in the buffer (fewer than 8 real bits, all ones) and the data
        /// continues with the EOI marker. Anything else — a marker inside the scan, extra entropy data — is left to libjpeg.
        /// </summary>
        public readonly bool AtCleanEnd()
        {
            int real = _bits - _fed;
            if (real < 0 || real >= 8) return false;
            if (real > 0 && (_buf >> (64 - real)) != (1UL << real) - 1) return false;
            int p = Pos;
            while (p + 1 < _d.Length && _d[p] == 0xFF && _d[p + 1] == 0xFF) p++;
            return p + 1 < _d.Length && _d[p] == 0xFF && _d[p + 1] == 0xD9;
        }

        public bool Restart(int expected)
        {
            _buf = 0; _bits = 0; _fed = 0;
            if (Pos + 1 >= _d.Length || _d[Pos] != 0xFF || _d[Pos + 1] != 0xD0 + expected) return false;
            Pos += 2;
            return true;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int DecodeSymbol(ref BitReader br, Huffman h)
    {
        int e = Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(h.Lookup), br.Peek(LookBits));
        if (e != 0)
        {
            br.Skip(e >> 8);
            return e & 0xFF;
        }
        int code = br.Peek(16);
        for (int l = LookBits + 1; l <= 16; l++)
        {
            int c = code >> (16 - l);
            if (h.MaxCode[l] >= 0 && c <= h.MaxCode[l])
            {
                br.Skip(l);
                int idx = h.ValPtr[l] + c - h.MinCode[l];
                return idx >= 0 && idx < h.Symbols.Length ? h.Symbols[idx] : -1;
            }
        }
        return -1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Receive(ref BitReader br, int s)
    {
        int v = br.Peek(s);
        br.Skip(s);
        return v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
    }

    private static RgbImage? DecodeScan(ReadOnlySpan<byte> d, int pos, int width, int height, int nf, bool is420,
        Span<int> td, Span<int> ta, Span<int> tq, Huffman?[] dcTables, Huffman?[] acTables, int[][] quant, int restart,
        Func<int, byte[]> allocate)
    {
        int ow = (width + 7) / 8, oh = (height + 7) / 8;           // TurboJPEG's 1/8 output size
        int mcuPx = is420 ? 16 : 8;
        int mcusX = nf == 1 ? ow : (width + mcuPx - 1) / mcuPx;
        int mcusY = nf == 1 ? oh : (height + mcuPx - 1) / mcuPx;
        int planeW = nf == 1 ? ow : mcusX * (is420 ? 2 : 1), planeH = nf == 1 ? oh : mcusY * (is420 ? 2 : 1);
        // Y, Cb, Cr planes at output resolution (before cropping to ow x oh).
        var y = new byte[planeW * planeH];
        var cb = nf == 3 ? new byte[planeW * planeH] : null;
        var cr = nf == 3 ? new byte[planeW * planeH] : null;
        var br = new BitReader(d, pos);
        Span<int> pred = stackalloc int[3];
        Span<int> block = stackalloc int[64 + 16];
        Span<int> ws = stackalloc int[16];
        var yDc = dcTables[td[0]]!; var yAc = acTables[ta[0]]!;
        int yQ0 = quant[tq[0]][0];
        int mcus = mcusX * mcusY, nextRestart = 0;
        int lumaBlocks = nf == 3 && is420 ? 4 : 1;
        for (int m = 0; m < mcus; m++)
        {
            if (restart > 0 && m > 0 && m % restart == 0)
            {
                if (!br.Restart(nextRestart)) return null;
                nextRestart = (nextRestart + 1) & 7;
                pred.Clear();
            }
            int mx = m % mcusX, my = m / mcusX;
            for (int u = 0; u < lumaBlocks; u++)
            {
                br.Fill();
                int s = DecodeSymbol(ref br, yDc);
                if ((uint)s > 11) return null;
                if (s > 0) { br.Fill(); pred[0] += Receive(ref br, s); }
                // AC: skipped. k = positions done; a skip entry may only be applied while it cannot complete the block.
                // One refill (≥ 33 bits) covers two lookups of ≤ 12 bits.
                ref ushort skip = ref MemoryMarshal.GetArrayDataReference(yAc.Skip);
                for (int k = 1; k < 64;)
                {
                    br.Fill();
                    int e = Unsafe.Add(ref skip, br.Peek(LookBits));
                    if (e != 0 && k + ((e >> 5) & 127) < 64)
                    {
                        br.Skip(e & 31);
                        k += (e >> 5) & 127;
                        if ((e & (1 << 12)) != 0) break;
                        e = Unsafe.Add(ref skip, br.Peek(LookBits));
                        if (e != 0 && k + ((e >> 5) & 127) < 64)
                        {
                            br.Skip(e & 31);
                            k += (e >> 5) & 127;
                            if ((e & (1 << 12)) != 0) break;
                        }
                        continue;
                    }
                    int rs = DecodeSymbol(ref br, yAc);
                    if (rs < 0) return null;
                    int r = rs >> 4, size = rs & 15;
                    if (size == 0)
                    {
                        if (r != 15) break;
                        k += 16;
                        continue;
                    }
                    br.Fill();
                    br.Skip(size);
                    k += r + 1;
                }
                // jpeg_idct_1x1: the coefficient is stored as a 16-bit JCOEF, DESCALE by 3, then the IDCT range limit.
                int v = ((short)pred[0] * yQ0 + 4) >> 3;
                int bx = is420 && nf == 3 ? mx * 2 + (u & 1) : mx, by = is420 && nf == 3 ? my * 2 + (u >> 1) : my;
                y[by * planeW + bx] = RangeLimit(v);
            }
            for (int c = 1; c < nf; c++)
            {
                // Chroma: full coefficient decode; 2x2 IDCT for 4:2:0, DC only (1x1) for 4:4:4.
                var dcT = dcTables[td[c]]!; var acT = acTables[ta[c]]!;
                var q = quant[tq[c]];
                block.Clear();
                br.Fill();
                int s = DecodeSymbol(ref br, dcT);
                if ((uint)s > 11) return null;
                if (s > 0) { br.Fill(); pred[c] += Receive(ref br, s); }
                block[0] = (short)pred[c];
                for (int k = 1; k < 64; k++)
                {
                    br.Fill();
                    int rs = DecodeSymbol(ref br, acT);
                    if (rs < 0) return null;
                    int r = rs >> 4, size = rs & 15;
                    if (size == 0)
                    {
                        if (r != 15) break;
                        k += 15;
                        continue;
                    }
                    k += r;
                    if (k > 63) return null;
                    br.Fill();
                    block[Natural[k]] = Receive(ref br, size);
                }
                var plane = c == 1 ? cb! : cr!;
                if (is420)
                {
                    Idct2x2(block, q, ws, out int p00, out int p01, out int p10, out int p11);
                    int o = my * 2 * planeW + mx * 2;
                    plane[o] = (byte)p00; plane[o + 1] = (byte)p01; plane[o + planeW] = (byte)p10; plane[o + planeW + 1] = (byte)p11;
                }
                else plane[my * planeW + mx] = RangeLimit((block[0] * q[0] + 4) >> 3);
            }
            if (br.Overrun) return null;
        }
        if (!br.AtCleanEnd()) return null;

        var rgb = allocate(checked(ow * oh * 3));
        var t = ColorTables.Value;
        for (int row = 0; row < oh; row++)
        {
            int src = row * planeW, o = row * ow * 3;
            for (int x = 0; x < ow; x++, o += 3)
            {
                int Y = y[src + x];
                if (cb is null) { rgb[o] = rgb[o + 1] = rgb[o + 2] = (byte)Y; continue; }
                int Cb = cb[src + x], Cr = cr![src + x];
                rgb[o] = Clamp(Y + t.CrR[Cr]);
                rgb[o + 1] = Clamp(Y + ((t.CbG[Cb] + t.CrG[Cr]) >> 16));
                rgb[o + 2] = Clamp(Y + t.CbB[Cb]);
            }
        }
        return new RgbImage(ow, oh, rgb);
    }

    /// <summary>
    /// IDCT_range_limit(cinfo)[x &amp; RANGE_MASK] (jdmaster.c prepare_range_limit_table): x + 128 clamped for
    /// -384 &lt; x &lt; 512, but wrapping to 0 beyond, as libjpeg does for wildly out-of-range (corrupt) coefficients.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte RangeLimit(int x)
    {
        int i = x & 1023;
        return (byte)(i < 128 ? i + 128 : i < 512 ? 255 : i < 896 ? 0 : i - 896);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte Clamp(int v) => (byte)(v < 0 ? 0 : v > 255 ? 255 : v);

    /// <summary>
    /// libjpeg-turbo jidctred.c jpeg_idct_2x2 (CONST_BITS 13, PASS1_BITS 2) as its SSE2 twin jsimd_idct_2x2 computes it
    /// (the one TurboJPEG runs on x86-64): identical for valid data, and the 16-bit behaviours are reproduced for corrupt data.
    /// </summary>
    private static void Idct2x2(Span<int> c, int[] q, Span<int> ws, out int p00, out int p01, out int p10, out int p11)
    {
        const int ConstBits = 13, Pass1Bits = 2;
        const long Fix0_720959822 = 5906, Fix0_850430095 = 6967, Fix1_272758580 = 10426, Fix3_624509785 = 29692;
        // Pass 1: columns 0, 1, 3, 5, 7 → ws[row * 8 + col] for rows 0 and 1. libjpeg-turbo runs this as SSE2
        // (jsimd_idct_2x2): dequantization is a 16-bit multiply (pmullw) and the pass-1 results are packed to 16 bits
        // with saturation; both only matter for out-of-range (corrupt) coefficients, but are reproduced.
        foreach (int col in (ReadOnlySpan<int>)[0, 1, 3, 5, 7])
        {
            long z0 = (short)(c[col] * q[col]), z1 = (short)(c[8 + col] * q[8 + col]), z3 = (short)(c[24 + col] * q[24 + col]);
            long z5 = (short)(c[40 + col] * q[40 + col]), z7 = (short)(c[56 + col] * q[56 + col]);
            long tmp10 = z0 << (ConstBits + 2);
            long tmp0 = z7 * -Fix0_720959822 + z5 * Fix0_850430095 + z3 * -Fix1_272758580 + z1 * Fix3_624509785;
            ws[col] = Sat16(Descale(tmp10 + tmp0, ConstBits - Pass1Bits + 2));
            ws[8 + col] = Sat16(Descale(tmp10 - tmp0, ConstBits - Pass1Bits + 2));
        }
        Row(ws[..8], out p00, out p01);
        Row(ws.Slice(8, 8), out p10, out p11);

        static void Row(Span<int> w, out int a, out int b)
        {
            long tmp10 = (long)w[0] << (ConstBits + 2);
            long tmp0 = w[7] * -Fix0_720959822 + w[5] * Fix0_850430095 + w[3] * -Fix1_272758580 + w[1] * Fix3_624509785;
            // SSE2 packs with signed saturation, then adds 128: a clamp, not the C range-limit table's wrap.
            a = Clamp((int)Math.Clamp(Descale(tmp10 + tmp0, ConstBits + Pass1Bits + 3 + 2), -32768, 32767) + 128);
            b = Clamp((int)Math.Clamp(Descale(tmp10 - tmp0, ConstBits + Pass1Bits + 3 + 2), -32768, 32767) + 128);
        }
    }

    private static int Sat16(long v) => (int)Math.Clamp(v, short.MinValue, short.MaxValue);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long Descale(long x, int n) => (x + (1L << (n - 1))) >> n;

    private sealed class Tables
    {
        public readonly int[] CrR = new int[256], CbB = new int[256], CrG = new int[256], CbG = new int[256];

        public Tables()
        {
            const int half = 1 << 15;
            static int Fix(double v) => (int)(v * (1 << 16) + 0.5);
            for (int i = 0, x = -128; i < 256; i++, x++)
            {
                CrR[i] = (Fix(1.40200) * x + half) >> 16;
                CbB[i] = (Fix(1.77200) * x + half) >> 16;
                CrG[i] = -Fix(0.71414) * x;
                CbG[i] = -Fix(0.34414) * x + half;
            }
        }
    }

    private static readonly Lazy<Tables> ColorTables = new(() => new Tables());
}
