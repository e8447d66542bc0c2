// Fast 1/8-scale JPEG decoding for shrink-on-load, producing the same pixels as libjpeg-turbo 2.1.5 scaled by 1/8
// (and so as Pillow's draft() decode), for baseline Huffman JPEGs in grey, 4:4:4 or 4:2:0 YCbCr, with or without
// restart markers.
// At 1/8, libjpeg reduces each luma block to its DC (jpeg_idct_1x1) and each 4:2:0 chroma block to 2x2 samples
// (jpeg_idct_2x2, which reads coefficients in rows/columns 0, 1, 3, 5, 7), so chroma needs no upsampling.
// The speed comes from luma: its AC coefficients are never decoded, only skipped, with a table that consumes as many
// whole symbols as one 12-bit lookup can see (the last magnitude may run past it). Chroma symbols are decoded one per
// lookup of a code+value table and added straight into the 2x2 IDCT's pass-1 sums. Entropy decoding is bound by the
// latency of each lookup and by mispredicted branches, so the hot loops (SkipAc, AcDecode) are small, make no calls,
// keep the bit buffer in registers, refill unconditionally and avoid data-dependent branches (DC sign, refill
// counts); the rare slow steps return to their callers.
// References: ITU-T T.81 Annex F (Huffman decoding), libjpeg-turbo 2.1.5 jdmaster.c (scaled DCT sizes),
// jidctred.c (jpeg_idct_1x1, jpeg_idct_2x2) and simd/x86_64/jidctred-sse2.asm (what TurboJPEG runs), jdcolor.c
// (ycc_rgb_convert tables), jdmarker.c (next_marker, for restarts).
// Anything else (progressive, arithmetic, 12-bit, 4:2:2, CMYK, RGB-coded, entropy errors, restart mismatches,
// truncation) returns null: the caller decodes with TurboJPEG, which also produces the Pillow-compatible errors.
using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BatchVlm.Imaging.Decoding;

internal static class JpegEighthDecoder
{
    private const int LookBits = 12;

    /// <summary>Bits a skip entry may consume: its codes lie in the 12-bit window, the last magnitude may run past it.</summary>
    private const int MaxSkipBits = 18;

    /// <summary>Index bits of the chroma code+value table: 4 KB keeps it in L1 beside the others; longer symbols are rare.</summary>
    private const int FastBits = 10;

    /// <summary>A skip entry advancing 127 positions: never applicable, so the decoder takes one symbol instead.</summary>
    private const ushort NoSkip = 127 << 6;

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
        /// AC skip, peek(12) → bits consumed (0..5) | positions advanced by the non-EOB symbols (6..12) | ends with EOB (13);
        /// the count sits in the low 6 bits so that `buf &lt;&lt;= entry` shifts by it (C# and x64 mask the count to 6 bits);
        /// an entry takes every symbol whose code lies in the window, the last one's magnitude bits included, up to
        /// <see cref="MaxSkipBits"/>; <see cref="NoSkip"/> when not even the first symbol qualifies.
        /// </summary>
        public readonly ushort[] Skip = new ushort[1 << LookBits];
        /// <summary>
        /// AC decode, peek(<see cref="FastBits"/>) → one whole symbol when its code and magnitude fit in those bits:
        /// bits consumed (0..5) | run (6..9) | size (10..13) | flag (14) | extended coefficient value (16..31, signed);
        /// 0 otherwise (the decoder then reads the code from <see cref="Lookup"/> and the magnitude from the buffer).
        /// </summary>
        public readonly int[] Fast = new int[1 << FastBits];
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
            for (int idx = 0; idx < 1 << FastBits; idx++)
            {
                int e = h.Lookup[idx << (LookBits - FastBits)];
                if (e == 0) continue;
                int l = e >> 8, r = (e >> 4) & 15, sz = e & 15;
                if (l + sz > FastBits) continue;
                int value = sz == 0 ? 0 : Extend((idx >> (FastBits - l - sz)) & ((1 << sz) - 1), sz);
                h.Fast[idx] = (l + sz) | (r << 6) | (sz << 10) | (1 << 14) | (value << 16);
            }
            // Multi-symbol skip entries: walk symbols whose codes lie inside the 12-bit window. Magnitude bits are
            // only skipped, so the last symbol's may run past the window (an entry consumes up to 12 + 15 bits).
            for (int idx = 0; idx < 1 << LookBits; idx++)
            {
                int used = 0, advance = 0;
                bool eob = false;
                while (used < LookBits)
                {
                    int e = h.Lookup[(idx << used) & ((1 << LookBits) - 1)];
                    if (e == 0) break;
                    int l = e >> 8, sym = e & 0xFF, r = sym >> 4, s = sym & 15;
                    if (used + l > LookBits) break;       // the code itself is cut by the window's end
                    if (used + l + s > MaxSkipBits) break; // three lookups per refill must fit in 56 bits
                    used += l + s;
                    if (s == 0 && r != 15) { eob = true; break; }
                    advance += s == 0 ? 16 : r + 1;
                    if (advance >= 63) break;
                }
                h.Skip[idx] = used > 0 ? (ushort)(used | (advance << 6) | (eob ? 1 << 13 : 0)) : NoSkip;
            }
        }
        return h;
    }

    /// <summary>
    /// Entropy-decoder position between blocks. The block decoders copy it into locals and write it back once, so the
    /// hot loops keep the bit buffer in registers (a struct field updated per symbol costs a store-load round trip).
    /// </summary>
    private struct BitState
    {
        public ulong Buf;  // MSB-aligned; bits below the top Bits are either zero or the data of the bytes at Pos
        public int Bits;   // valid bits in Buf
        public int Pos;    // next byte of entropy data to load
        public int Fed;    // zero bits fed after the data ended or a marker was reached

        /// <summary>True when bits past the real data were consumed (truncated or corrupt stream).</summary>
        public readonly bool Overrun => Fed > Bits;
    }

    /// <summary>
    /// Tops the buffer up to ≥ 56 bits when eight bytes without 0xFF follow: one read, and as many whole bytes as fit
    /// are taken (the bits below the new count are those bytes' successors, so the next read ORs the same values).
    /// False when the slow path is needed. Any count below 64 is fine (a full buffer takes no bytes), so callers top
    /// up unconditionally rather than branch on a count that varies with the data.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool RefillFast(ref ulong buf, ref int bits, ref int pos, ReadOnlySpan<byte> d)
    {
        if ((uint)pos + 8 > (uint)d.Length) return false;
        ulong x = BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref MemoryMarshal.GetReference(d), pos)));
        // 0xFF (a stuffed byte or a marker) among the bytes taken: the top n of x. Borrows can only add false alarms.
        ulong y = ~x;
        int n = (63 - bits) >> 3;
        if (((y - 0x0101010101010101UL) & ~y & 0x8080808080808080UL & (ulong.MaxValue << (64 - 8 * n))) != 0) return false;
        buf |= x >> bits;
        pos += n;
        bits |= 56;
        return true;
    }

    /// <summary>
    /// Byte by byte near 0xFF (stuffed bytes, markers) and at the end of the data. Takes and returns the state by value
    /// so that the callers' bit-buffer locals are never address-taken (they would then live in memory).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (ulong Buf, int Bits, int Pos, int Fed) RefillSlow(ulong buf, int bits, int pos, int fed, ReadOnlySpan<byte> d)
    {
        buf = bits == 0 ? 0 : buf & (ulong.MaxValue << (64 - bits)); // drop the look-ahead bits of the fast path
        while (bits <= 55) // ≥ 56 bits, and never 64: RefillFast shifts by the count
        {
            int b;
            if (pos < d.Length && d[pos] != 0xFF) b = d[pos++];
            else if (pos + 1 < d.Length && d[pos] == 0xFF && d[pos + 1] == 0x00) { b = 0xFF; pos += 2; }
            else { b = 0; fed += 8; } // marker or end of data: feed zeros, do not consume
            buf |= (ulong)b << (56 - bits);
            bits += 8;
        }
        return (buf, bits, pos, fed);
    }

    /// <summary>
    /// Codes longer than the lookup (13–16 bits), canonical decoding as in jdhuff.c jpeg_huff_decode.
    /// <paramref name="peek16"/> is the next 16 bits; returns (length &lt;&lt; 8) | symbol, or -1 for a bad code.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int LongCode(Huffman h, int peek16)
    {
        for (int l = LookBits + 1; l <= 16; l++)
        {
            int c = peek16 >> (16 - l);
            if (h.MaxCode[l] >= 0 && c <= h.MaxCode[l])
            {
                int idx = h.ValPtr[l] + c - h.MinCode[l];
                return idx >= 0 && idx < h.Symbols.Length ? (l << 8) | h.Symbols[idx] : -1;
            }
        }
        return -1;
    }

    /// <summary>
    /// A DC symbol — code (≤ 16 bits) and magnitude (≤ 11) from ≥ 32 buffered bits — added to <paramref name="pred"/>.
    /// False for a bad code or a size above 11, which libjpeg rejects for 8-bit data.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool DecodeDc(ref ulong buf, ref int bits, Huffman dc, ref int pred)
    {
        int e = Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(dc.Lookup), (nint)(buf >> (64 - LookBits)));
        if (e == 0 && (e = LongCode(dc, (int)(buf >> 48))) < 0) return false;
        int s = e & 0xFF;
        buf <<= e >> 8; bits -= e >> 8;
        if (s > 11) return false;
        pred += DcDiff(buf, s);
        buf <<= s; bits -= s;
        return true;
    }

    /// <summary>
    /// The DC difference of size <paramref name="s"/> (0..11) at the top of <paramref name="buf"/>, without branches:
    /// its sign is a coin toss, and a branch on it mispredicts every other block. For s = 0 the shifts give 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int DcDiff(ulong buf, int s)
    {
        int v = (int)(buf >> (64 - s)) & ((1 << s) - 1);           // s = 0: buf >> 0, masked to 0
        return v + (((v >> (s - 1)) - 1) & ((-1 << s) + 1));        // EXTEND: top bit clear → v - 2^s + 1
    }

    /// <summary>F.2.2.1 EXTEND: the <paramref name="s"/>-bit magnitude <paramref name="v"/> as a signed value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Extend(int v, int s) => v < 1 << (s - 1) ? v - (1 << s) + 1 : v;

    /// <summary>
    /// Decodes <paramref name="count"/> consecutive blocks of one component of which only the DC is needed (libjpeg's
    /// 1x1 IDCT): the DC goes through <paramref name="pred"/> to one output sample each — block u of 4 (a 4:2:0 MCU's
    /// luma) at dst[(u / 2) · stride + u % 2], a single block at dst[0] — and the AC coefficients are skipped, several
    /// symbols per lookup. One call per MCU keeps the bit buffer in registers across its blocks.
    /// </summary>
    private static bool DcOnlyBlocks(ref BitState st, ReadOnlySpan<byte> d, Huffman dc, Huffman ac, ref int pred, int q0,
        Span<byte> dst, int stride, int count)
    {
        ulong buf = st.Buf;
        int bits = st.Bits, pos = st.Pos;
        for (int u = 0; u < count; u++)
        {
            if (!RefillFast(ref buf, ref bits, ref pos, d) && bits < 32) (buf, bits, pos, st.Fed) = RefillSlow(buf, bits, pos, st.Fed, d);
            if (!DecodeDc(ref buf, ref bits, dc, ref pred)) return false;
            for (int k = 1; ;)
            {
                var cur = SkipAc(new Cursor(buf, bits, pos), d, ac, ref k);
                (buf, bits, pos) = (cur.Buf, cur.Bits, cur.Pos);
                if (k >= 64) break;
                // Near a 0xFF byte or the end of the data, or a code longer than 12 bits: one symbol the slow way.
                if (bits < 32) (buf, bits, pos, st.Fed) = RefillSlow(buf, bits, pos, st.Fed, d);
                int e = ac.Lookup[(int)(buf >> (64 - LookBits))];
                if (e == 0 && (e = LongCode(ac, (int)(buf >> 48))) < 0) return false;
                buf <<= e >> 8; bits -= e >> 8;
                if ((k = AdvanceOne(ref buf, ref bits, k, e & 0xFF)) >= 64) break;
            }
            dst[count == 1 ? 0 : (u >> 1) * stride + (u & 1)] = Idct1x1(pred, q0);
        }
        st.Buf = buf; st.Bits = bits; st.Pos = pos;
        return true;
    }

    /// <summary>The bit buffer, bit count and position: 16 bytes, passed and returned in registers.</summary>
    private readonly record struct Cursor(ulong Buf, int Bits, int Pos);

    /// <summary>
    /// Skips AC coefficients of a block from position <paramref name="k"/>, several symbols per lookup: a skip entry is
    /// applied only while it cannot complete the block (entries that do not fit, or would pass position 63, advance
    /// 127 and go one symbol at a time); ≥ 32 bits cover two lookups. Sets k to 64 when the block is done. It makes
    /// no calls, so its few values stay in registers; it returns early for the caller to do the rare slow steps:
    /// with fewer than 32 bits when the slow refill is needed, with ≥ 32 bits when a code is longer than 12 bits.
    /// </summary>
    private static Cursor SkipAc(Cursor cur, ReadOnlySpan<byte> d, Huffman ac, ref int k)
    {
        ulong buf = cur.Buf;
        int bits = cur.Bits, pos = cur.Pos, kk = k;
        ref ushort skip = ref MemoryMarshal.GetArrayDataReference(ac.Skip);
        ref ushort lookup = ref MemoryMarshal.GetArrayDataReference(ac.Lookup);
        while (true)
        {
            // Refill on every round, not when a count runs low: a data-dependent "bits < n" branch mispredicts
            // often, the unconditional top-up costs a load. ≥ 56 bits then cover three lookups of ≤ 18.
            if (!RefillFast(ref buf, ref bits, ref pos, d)) break;
            int e = Unsafe.Add(ref skip, (nint)(buf >> (64 - LookBits)));
            if (kk + ((e >> 6) & 127) >= 64) goto one;
            buf <<= e; bits -= (int)((uint)e << 26 >> 26); kk += (e >> 6) & 127;
            if ((e & (1 << 13)) != 0) { kk = 64; break; }
            e = Unsafe.Add(ref skip, (nint)(buf >> (64 - LookBits)));
            if (kk + ((e >> 6) & 127) >= 64) continue; // the single-symbol path starts from a full buffer
            buf <<= e; bits -= (int)((uint)e << 26 >> 26); kk += (e >> 6) & 127;
            if ((e & (1 << 13)) != 0) { kk = 64; break; }
            e = Unsafe.Add(ref skip, (nint)(buf >> (64 - LookBits)));
            if (kk + ((e >> 6) & 127) >= 64) continue;
            buf <<= e; bits -= (int)((uint)e << 26 >> 26); kk += (e >> 6) & 127;
            if ((e & (1 << 13)) != 0) { kk = 64; break; }
            continue;
        one:
            // One symbol: a code (≤ 12 bits here) and its magnitude bits (≤ 15), from ≥ 56 bits.
            e = Unsafe.Add(ref lookup, (nint)(buf >> (64 - LookBits)));
            if (e == 0) break;
            buf <<= e >> 8; bits -= e >> 8;
            kk = AdvanceOne(ref buf, ref bits, kk, e & 0xFF);
            if (kk >= 64) break;
        }
        k = kk;
        return new Cursor(buf, bits, pos);
    }

    /// <summary>After an AC symbol's code: drops its magnitude bits and returns the next position (64 = block done).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int AdvanceOne(ref ulong buf, ref int bits, int k, int rs)
    {
        int r = rs >> 4, s = rs & 15;
        if (s == 0) return r == 15 ? k + 16 : 64; // ZRL, or EOB
        buf <<= s; bits -= s;
        return k + r + 1;
    }

    /// <summary>
    /// Decodes AC coefficients of a block from position <paramref name="k"/> into <paramref name="block"/> (natural order),
    /// one whole symbol per lookup of the Fast table (else code from the 12-bit table, magnitude from the buffer); sets
    /// k to 64 when the block is done. Like SkipAc it makes no calls and returns early for the caller's slow steps
    /// (slow refill, a code longer than 12 bits) with k &lt; 64,
    /// and with k = 65 for a run past position 63, which libjpeg handles its own way (the caller declines the file).
    /// </summary>
    private static Cursor AcDecode(Cursor cur, ReadOnlySpan<byte> d, Huffman ac, Span<int> acc, int[] q, ref int k)
    {
        ulong buf = cur.Buf;
        int bits = cur.Bits, pos = cur.Pos, kk = k;
        ref int fast = ref MemoryMarshal.GetArrayDataReference(ac.Fast);
        ref byte natural = ref MemoryMarshal.GetArrayDataReference(Natural);
        while (true)
        {
            if (!RefillFast(ref buf, ref bits, ref pos, d)) break;
            int e = Unsafe.Add(ref fast, (nint)(buf >> (64 - FastBits)));
            if (e == 0)
            {
                // Code and magnitude longer than the Fast table: code from the 12-bit lookup (longer: the caller),
                // magnitude from the buffer (≥ 56 bits hold ≤ 12 + 15).
                int c = ac.Lookup[(int)(buf >> (64 - LookBits))];
                if (c == 0) break;
                buf <<= c >> 8; bits -= c >> 8;
                int sz = c & 15;
                e = (c & 0xF0) << 2 | sz << 10 | (sz == 0 ? 0 : Extend((int)(buf >> (64 - sz)), sz) << 16);
                buf <<= sz; bits -= sz;
            }
            else
            {
                buf <<= e; bits -= e & 63;
            }
            int r = (e >> 6) & 15;
            if ((e & (15 << 10)) == 0)
            {
                if (r != 15) { kk = 64; break; } // EOB
                kk += 16;                        // ZRL; one that runs past 63 just ends the block, as in libjpeg
                if (kk >= 64) { kk = 64; break; }
                continue;
            }
            else
            {
                kk += r;
                if (kk > 63) { kk = 65; break; }
                Accumulate(acc, q, Unsafe.Add(ref natural, kk), e >> 16);
                kk++;
            }
            if (kk >= 64) break;
        }
        k = kk;
        return new Cursor(buf, bits, pos);
    }

    /// <summary>
    /// Decodes a 4:2:0 chroma block for libjpeg's 2x2 IDCT: each coefficient is dequantized as it arrives and added into
    /// the pass-1 sums of the IDCT (<paramref name="acc"/>, zero on entry: top and bottom row of columns 0, 1, 3, 5, 7,
    /// then a sink for the positions the IDCT ignores) — the sums are linear, so no coefficient block is kept.
    /// </summary>
    private static bool ChromaBlock(ref BitState st, ReadOnlySpan<byte> d, Huffman dc, Huffman ac, int[] q, ref int pred, Span<int> acc)
    {
        ulong buf = st.Buf;
        int bits = st.Bits, pos = st.Pos;
        if (!RefillFast(ref buf, ref bits, ref pos, d) && bits < 32) (buf, bits, pos, st.Fed) = RefillSlow(buf, bits, pos, st.Fed, d);
        if (!DecodeDc(ref buf, ref bits, dc, ref pred)) return false;
        Accumulate(acc, q, 0, (short)pred); // JCOEF
        int e, s;
        for (int k = 1; ;)
        {
            var cur = AcDecode(new Cursor(buf, bits, pos), d, ac, acc, q, ref k);
            (buf, bits, pos) = (cur.Buf, cur.Bits, cur.Pos);
            if (k > 64) return false;
            if (k == 64) break;
            // Near a 0xFF byte or the end of the data, or a code longer than 12 bits: one symbol the slow way.
            if (bits < 32) (buf, bits, pos, st.Fed) = RefillSlow(buf, bits, pos, st.Fed, d);
            e = ac.Lookup[(int)(buf >> (64 - LookBits))];
            if (e == 0 && (e = LongCode(ac, (int)(buf >> 48))) < 0) return false;
            buf <<= e >> 8; bits -= e >> 8;
            int r = (e >> 4) & 15;
            s = e & 15;
            if (s == 0)
            {
                if (r != 15) break;
                k += 16;
            }
            else
            {
                k += r;
                if (k > 63) return false; // libjpeg would write through its padded natural-order table: leave it to TurboJPEG
                Accumulate(acc, q, Natural[k], Extend((int)(buf >> (64 - s)), s));
                buf <<= s; bits -= s;
                k++;
            }
            if (k >= 64) break;
        }
        st.Buf = buf; st.Bits = bits; st.Pos = pos;
        return true;
    }

    /// <summary>
    /// Adds coefficient <paramref name="v"/> at natural position <paramref name="nat"/>, dequantized as pmullw does
    /// ((short)(v · q)), into the 2x2 IDCT's pass-1 sums: acc[2j] (top row) and acc[2j + 1] (bottom row) of column
    /// slot j. Sums wrap at 32 bits like the SSE2 code's paddd; each product fits (|z · w| ≤ 2^30).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate(Span<int> acc, int[] q, int nat, int v)
    {
        unchecked
        {
            int z = (short)(v * q[nat]);
            int slot = Idct2Slot[nat];
            acc[slot] += z * Idct2Top[nat];
            acc[slot + 1] += z * Idct2Bottom[nat];
        }
    }

    // Per natural position: accumulator index (2 × column slot; 10 = sink for rows/columns 2, 4, 6) and the pass-1
    // weights of jpeg_idct_2x2 for the top and bottom output rows: row 0 → 2^15 (tmp10 = z0 << 15) in both; rows 1, 3,
    // 5, 7 → ±FIX(3.624509785), ∓FIX(1.272758580), ±FIX(0.850430095), ∓FIX(0.720959822) (top +tmp0, bottom −tmp0).
    private static readonly byte[] Idct2Slot = new byte[64];
    private static readonly int[] Idct2Top = new int[64], Idct2Bottom = new int[64];

    static JpegEighthDecoder()
    {
        ReadOnlySpan<int> slotOfColumn = [0, 2, -1, 4, -1, 6, -1, 8];
        ReadOnlySpan<int> rowWeight = [1 << 15, 29692, 0, -10426, 0, 6967, 0, -5906];
        for (int nat = 0; nat < 64; nat++)
        {
            int row = nat >> 3, col = nat & 7;
            bool used = slotOfColumn[col] >= 0 && rowWeight[row] != 0;
            Idct2Slot[nat] = (byte)(used ? slotOfColumn[col] : 10);
            Idct2Top[nat] = used ? rowWeight[row] : 0;
            Idct2Bottom[nat] = used ? (row == 0 ? rowWeight[row] : -rowWeight[row]) : 0;
        }
    }

    /// <summary>
    /// Restart marker: the buffered bits (padding) are dropped and the next marker must be RSTn with the expected n.
    /// Bytes before it are skipped as libjpeg's next_marker does (JWRN_EXTRANEOUS_DATA, same pixels).
    /// </summary>
    private static bool Restart(ref BitState st, ReadOnlySpan<byte> d, int expected)
    {
        int p = st.Pos;
        while (p + 1 < d.Length && !(d[p] == 0xFF && d[p + 1] != 0x00 && d[p + 1] != 0xFF)) p++;
        st = new BitState { Pos = p + 2 };
        return p + 1 < d.Length && d[p + 1] == 0xD0 + expected;
    }

    /// <summary>
    /// After the last MCU: only padding is left (fewer than 8 real bits, all ones) and the data continues with the EOI
    /// marker. Anything else — a marker inside the scan, extra entropy data — is left to libjpeg.
    /// </summary>
    private static bool AtCleanEnd(in BitState st, ReadOnlySpan<byte> d)
    {
        int real = st.Bits - st.Fed;
        if (real < 0 || real >= 8) return false;
        if (real > 0 && (st.Buf >> (64 - real)) != (1UL << real) - 1) return false;
        int p = st.Pos;
        while (p + 1 < d.Length && d[p] == 0xFF && d[p + 1] == 0xFF) p++;
        return p + 1 < d.Length && d[p] == 0xFF && d[p + 1] == 0xD9;
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
        // Y, Cb, Cr planes at output resolution (before cropping to ow x oh), rented: every sample is written.
        int planeSize = planeW * planeH;
        byte[] planes = ArrayPool<byte>.Shared.Rent(planeSize * nf);
        try
        {
            return DecodeMcus(d, pos, ow, oh, mcusX, mcusY, planeW, nf, is420, td, ta, tq, dcTables, acTables, quant, restart,
                planes.AsSpan(0, planeSize), nf == 3 ? planes.AsSpan(planeSize, planeSize) : default,
                nf == 3 ? planes.AsSpan(2 * planeSize, planeSize) : default, allocate);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(planes);
        }
    }

    private static RgbImage? DecodeMcus(ReadOnlySpan<byte> d, int pos, int ow, int oh, int mcusX, int mcusY, int planeW, int nf,
        bool is420, Span<int> td, Span<int> ta, Span<int> tq, Huffman?[] dcTables, Huffman?[] acTables, int[][] quant,
        int restart, Span<byte> y, Span<byte> cb, Span<byte> cr, Func<int, byte[]> allocate)
    {
        var st = new BitState { Pos = pos };
        Span<int> pred = stackalloc int[3];
        Span<int> acc = stackalloc int[12]; // the 2x2 IDCT's pass-1 sums for one chroma block, see Accumulate
        acc.Clear();
        var dcT = new Huffman[nf];
        var acT = new Huffman[nf];
        var q0 = new int[nf];
        for (int c = 0; c < nf; c++) { dcT[c] = dcTables[td[c]]!; acT[c] = acTables[ta[c]]!; q0[c] = quant[tq[c]][0]; }
        var yDc = dcT[0]; var yAc = acT[0];
        int nextRestart = 0, restartLeft = restart;
        for (int my = 0; my < mcusY; my++)
        {
            for (int mx = 0; mx < mcusX; mx++)
            {
                if (restart > 0)
                {
                    if (restartLeft == 0)
                    {
                        if (!Restart(ref st, d, nextRestart)) return null;
                        nextRestart = (nextRestart + 1) & 7;
                        pred.Clear();
                        restartLeft = restart;
                    }
                    restartLeft--;
                }
                if (nf == 3 && is420)
                {
                    int o = 2 * (my * planeW + mx);
                    if (!DcOnlyBlocks(ref st, d, yDc, yAc, ref pred[0], q0[0], y[o..], planeW, 4)) return null;
                    // 4:2:0 chroma at 1/8 is libjpeg's 2x2 IDCT, which reads AC coefficients too.
                    for (int c = 1; c < 3; c++)
                    {
                        if (!ChromaBlock(ref st, d, dcT[c], acT[c], quant[tq[c]], ref pred[c], acc)) return null;
                        Idct2x2(acc, out int p00, out int p01, out int p10, out int p11);
                        acc.Clear();
                        var plane = c == 1 ? cb : cr;
                        plane[o] = (byte)p00; plane[o + 1] = (byte)p01; plane[o + planeW] = (byte)p10; plane[o + planeW + 1] = (byte)p11;
                    }
                }
                else
                {
                    // Grey or 4:4:4: every block reduces to its DC.
                    int o = my * planeW + mx;
                    if (!DcOnlyBlocks(ref st, d, yDc, yAc, ref pred[0], q0[0], y[o..], planeW, 1)) return null;
                    for (int c = 1; c < nf; c++)
                        if (!DcOnlyBlocks(ref st, d, dcT[c], acT[c], ref pred[c], q0[c], (c == 1 ? cb : cr)[o..], planeW, 1)) return null;
                }
                if (st.Overrun) return null;
            }
        }
        if (!AtCleanEnd(st, d)) return null;
        var rgb = allocate(checked(ow * oh * 3));
        for (int row = 0; row < oh; row++)
            ToRgb(y.Slice(row * planeW, ow), cb.IsEmpty ? default : cb.Slice(row * planeW, ow),
                cr.IsEmpty ? default : cr.Slice(row * planeW, ow), rgb.AsSpan(row * ow * 3, ow * 3));
        return new RgbImage(ow, oh, rgb);
    }

    /// <summary>jdcolor.c ycc_rgb_convert (or grey → RGB) for one row.</summary>
    private static void ToRgb(ReadOnlySpan<byte> y, ReadOnlySpan<byte> cb, ReadOnlySpan<byte> cr, Span<byte> rgb)
    {
        ref byte o = ref MemoryMarshal.GetReference(rgb);
        if (cb.IsEmpty)
        {
            for (int x = 0; x < y.Length; x++, o = ref Unsafe.Add(ref o, 3)) o = Unsafe.Add(ref o, 1) = Unsafe.Add(ref o, 2) = y[x];
            return;
        }
        var t = ColorTables.Value;
        ref int crR = ref MemoryMarshal.GetArrayDataReference(t.CrR), cbB = ref MemoryMarshal.GetArrayDataReference(t.CbB);
        ref int crG = ref MemoryMarshal.GetArrayDataReference(t.CrG), cbG = ref MemoryMarshal.GetArrayDataReference(t.CbG);
        cb = cb[..y.Length]; cr = cr[..y.Length];
        for (int x = 0; x < y.Length; x++, o = ref Unsafe.Add(ref o, 3))
        {
            int Y = y[x], Cb = cb[x], Cr = cr[x];
            o = Clamp(Y + Unsafe.Add(ref crR, Cr));
            Unsafe.Add(ref o, 1) = Clamp(Y + ((Unsafe.Add(ref cbG, Cb) + Unsafe.Add(ref crG, Cr)) >> 16));
            Unsafe.Add(ref o, 2) = Clamp(Y + Unsafe.Add(ref cbB, Cb));
        }
    }

    /// <summary>jpeg_idct_1x1: the DC is stored as a 16-bit JCOEF, dequantized, DESCALEd by 3 and range-limited.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte Idct1x1(int dc, int q0) => RangeLimit(((short)dc * q0 + 4) >> 3);

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
    /// libjpeg-turbo jidctred.c jpeg_idct_2x2 (CONST_BITS 13, PASS1_BITS 2) exactly as its SSE2 twin jsimd_idct_2x2_sse2
    /// (simd/x86_64/jidctred-sse2.asm, the one TurboJPEG runs on x86-64) computes it, which only matters for corrupt
    /// data: dequantization is a 16-bit multiply (pmullw), all sums are 32-bit and wrap (pmaddwd/paddd), the pass-1
    /// results of columns 1, 3, 5, 7 are saturated to 16 bits (packssdw) while column 0's are not and are shifted
    /// left by 15 in 32 bits in pass 2, and the output is saturated to 16 then 8 bits before adding 128.
    /// Pass 1's sums come ready from <see cref="Accumulate"/>.
    /// </summary>
    private static void Idct2x2(ReadOnlySpan<int> acc, out int p00, out int p01, out int p10, out int p11)
    {
        const int ConstBits = 13, Pass1Bits = 2;
        const int Pass1Shift = ConstBits - Pass1Bits + 2, Pass2Shift = ConstBits + Pass1Bits + 3 + 2;
        unchecked
        {
            int t0 = Pass1(acc[0]), b0 = Pass1(acc[1]);
            int t1 = Sat16(Pass1(acc[2])), b1 = Sat16(Pass1(acc[3]));
            int t3 = Sat16(Pass1(acc[4])), b3 = Sat16(Pass1(acc[5]));
            int t5 = Sat16(Pass1(acc[6])), b5 = Sat16(Pass1(acc[7]));
            int t7 = Sat16(Pass1(acc[8])), b7 = Sat16(Pass1(acc[9]));
            Row(t0, t1, t3, t5, t7, out p00, out p01);
            Row(b0, b1, b3, b5, b7, out p10, out p11);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static int Pass1(int sum) => unchecked(sum + (1 << (Pass1Shift - 1))) >> Pass1Shift;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Row(int w0, int w1, int w3, int w5, int w7, out int a, out int b)
        {
            unchecked
            {
                int tmp10 = w0 << (ConstBits + 2);
                int tmp0 = w1 * 29692 - w3 * 10426 + w5 * 6967 - w7 * 5906; // two pmaddwd, one paddd
                a = Output((tmp10 + tmp0 + (1 << (Pass2Shift - 1))) >> Pass2Shift);
                b = Output((tmp10 - tmp0 + (1 << (Pass2Shift - 1))) >> Pass2Shift);
            }
        }

        // packssdw, packsswb, paddb 128.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static int Output(int v) => Math.Clamp(v, -128, 127) + 128;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Sat16(int v) => Math.Clamp(v, short.MinValue, short.MaxValue);


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
