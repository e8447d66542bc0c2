// Generates the images the system tests and the fleet benchmark upload: small valid PNGs and baseline JPEGs of
// varying sizes, written from scratch so no image library is needed to make them, and the corrupt files a real
// archive holds (a JPEG cut off mid-scan, a zero-byte file, a text file named .jpg).
// PNG follows the PNG 1.2 spec (IHDR/IDAT/IEND, zlib stream, CRC-32 over type+data). The JPEG is baseline
// sequential (ITU T.81, Annex F) with flat 8x8 blocks: every block's DCT has only a DC term, so each block is one
// DC difference (the standard luminance DC Huffman table, K.3) and an end-of-block code; libjpeg, libvips and PIL
// decode it like any other baseline JPEG.
using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace BatchVlm.Fleet.Tests.SystemTests;

public static class TestImages
{
    /// <summary>Which corrupt file <see cref="Corrupt"/> makes, and what the decoder should report for it.</summary>
    public enum CorruptKind { TruncatedJpeg, ZeroBytes, TextNamedJpg }

    /// <summary>A valid RGB PNG, width x height, pixels derived from <paramref name="seed"/>.</summary>
    public static byte[] Png(int width, int height, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        var raw = new byte[height * (1 + 3 * width)];
        var i = 0;
        for (var y = 0; y < height; y++)
        {
            raw[i++] = 0; // filter type None
            for (var x = 0; x < width; x++)
            {
                raw[i++] = (byte)(x * 255 / Math.Max(1, width - 1));
                raw[i++] = (byte)(y * 255 / Math.Max(1, height - 1));
                raw[i++] = (byte)(seed * 37 + x * y);
            }
        }
        using var idat = new MemoryStream();
        using (var z = new ZLibStream(idat, CompressionLevel.Fastest, leaveOpen: true))
            z.Write(raw);

        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;  // bit depth
        ihdr[9] = 2;  // colour type: truecolour RGB
        WriteChunk(png, "IHDR", ihdr);
        WriteChunk(png, "IDAT", idat.ToArray());
        WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    /// <summary>A valid baseline YCbCr JPEG (no subsampling), width x height, of flat 8x8 blocks whose brightness
    /// follows a pattern derived from <paramref name="seed"/>.</summary>
    public static byte[] Jpeg(int width, int height, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(width, 65535);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(height, 65535);
        var s = new MemoryStream();
        s.Write([0xFF, 0xD8]);                                                    // SOI
        Segment(s, 0xE0, [.. "JFIF"u8, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]);           // APP0 JFIF 1.1, aspect 1:1
        var dqt = new byte[65];                                                   // Pq=0 Tq=0, 64 values (zig-zag)
        Array.Fill(dqt, (byte)8, 1, 64);
        Segment(s, 0xDB, dqt);
        Segment(s, 0xC0, [8, (byte)(height >> 8), (byte)height, (byte)(width >> 8), (byte)width, 3,
            1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]);                                 // SOF0: 3 components, 1x1, table 0
        Segment(s, 0xC4, [0x00, .. DcBits, .. DcValues]);                         // DHT class 0 (DC) id 0
        Segment(s, 0xC4, [0x10, .. AcBits, .. AcValues]);                         // DHT class 1 (AC) id 0
        Segment(s, 0xDA, [3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0]);               // SOS: all 3 components, Ss..Se 0..63

        var dc = HuffmanCodes(DcBits, DcValues);
        var ac = HuffmanCodes(AcBits, AcValues);
        var bits = new BitWriter(s);
        Span<int> previous = stackalloc int[3];
        int blocksX = (width + 7) / 8, blocksY = (height + 7) / 8;
        for (var by = 0; by < blocksY; by++)
        {
            for (var bx = 0; bx < blocksX; bx++)
            {
                // Flat block of level p: F(0,0) = 8 (p - 128); quantised by 8 → p - 128.
                Span<int> level = [
                    (bx * 29 + by * 17 + seed * 13) % 220 + 18,                   // Y
                    (bx * 11 + seed * 7) % 100 + 78,                              // Cb
                    (by * 11 + seed * 5) % 100 + 78];                             // Cr
                for (var c = 0; c < 3; c++)
                {
                    var value = level[c] - 128;
                    var diff = value - previous[c];
                    previous[c] = value;
                    var size = diff == 0 ? 0 : 32 - int.LeadingZeroCount(Math.Abs(diff));
                    bits.Write(dc[size]);
                    if (size > 0)
                        bits.Write(((uint)(diff < 0 ? diff - 1 : diff) & ((1u << size) - 1), size));
                    bits.Write(ac[0x00]);                                         // EOB: all 63 AC terms zero
                }
            }
        }
        bits.Flush();
        s.Write([0xFF, 0xD9]);                                                    // EOI
        return s.ToArray();
    }

    /// <summary>A corrupt file of the given kind; <paramref name="seed"/> varies the truncated JPEG.</summary>
    public static byte[] Corrupt(CorruptKind kind, int seed) => kind switch
    {
        // Cut in the middle of the entropy-coded scan: headers intact, pixels missing, no EOI.
        CorruptKind.TruncatedJpeg => TruncatedJpeg(seed),
        CorruptKind.ZeroBytes => [],
        CorruptKind.TextNamedJpg => Encoding.UTF8.GetBytes($"This is a text file named like a JPEG (#{seed}).\n"),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Writes <paramref name="count"/> images into <paramref name="folder"/>: PNGs and JPEGs of varying
    /// sizes (8..72 px a side), and the corrupt files listed in <paramref name="corrupt"/> under their names.
    /// Returns every file name written (relative to the folder), sorted ordinally.</summary>
    public static IReadOnlyList<string> WriteSet(string folder, int count, IReadOnlyDictionary<string, CorruptKind>? corrupt = null,
        int maxSide = 72)
    {
        Directory.CreateDirectory(folder);
        var names = new List<string>(count);
        var corruptNames = corrupt?.Keys.ToHashSet(StringComparer.Ordinal) ?? [];
        var seed = 0;
        foreach (var (name, kind) in corrupt ?? new Dictionary<string, CorruptKind>())
        {
            WriteFile(folder, name, Corrupt(kind, seed++));
            names.Add(name);
        }
        for (var i = 0; names.Count < count; i++)
        {
            // Two levels of folders so listing by prefix crosses "directories" the way real archives do.
            var png = i % 4 == 3;
            var name = $"d{i % 7}/s{i % 3}/img-{i:D6}.{(png ? "png" : "jpg")}";
            if (corruptNames.Contains(name))
                continue;
            int w = 8 + (i * 7919) % (maxSide - 7), h = 8 + (i * 104729) % (maxSide - 7);
            WriteFile(folder, name, png ? Png(w, h, i) : Jpeg(w, h, i));
            names.Add(name);
        }
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <summary>Width and height read back from a PNG's IHDR or a JPEG's SOF0 (what the generators wrote).</summary>
    public static (int Width, int Height) Size(byte[] image)
    {
        if (image.Length > 24 && image[0] == 0x89 && image[1] == (byte)'P')
            return (BinaryPrimitives.ReadInt32BigEndian(image.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(image.AsSpan(20)));
        for (var i = 2; i + 8 < image.Length; i++)
        {
            if (image[i] == 0xFF && image[i + 1] == 0xC0)
                return ((image[i + 7] << 8) | image[i + 8], (image[i + 5] << 8) | image[i + 6]);
        }
        throw new ArgumentException("neither a PNG nor a baseline JPEG made by TestImages", nameof(image));
    }

    private static byte[] TruncatedJpeg(int seed)
    {
        var jpeg = Jpeg(64, 64, seed);
        var scan = ScanStart(jpeg);
        return jpeg[..(scan + (jpeg.Length - scan) / 3)];
    }

    private static void WriteFile(string folder, string name, byte[] bytes)
    {
        var path = Path.Combine(folder, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
    }

    private static int ScanStart(byte[] jpeg)
    {
        for (var i = 2; i + 3 < jpeg.Length; i++)
        {
            if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xDA)
                return i + 2 + ((jpeg[i + 2] << 8) | jpeg[i + 3]);
        }
        throw new InvalidOperationException("no SOS marker");
    }

    private static void WriteChunk(Stream s, string type, byte[] data)
    {
        Span<byte> be = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(be, data.Length);
        s.Write(be);
        var typeBytes = Encoding.ASCII.GetBytes(type);
        s.Write(typeBytes);
        s.Write(data);
        var crc = Crc32.Update(Crc32.Update(0xFFFFFFFFu, typeBytes), data) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(be, crc);
        s.Write(be);
    }

    private static void Segment(Stream s, byte marker, byte[] payload)
    {
        s.Write([0xFF, marker, (byte)((payload.Length + 2) >> 8), (byte)(payload.Length + 2)]);
        s.Write(payload);
    }

    // Standard luminance DC table (T.81 K.3): categories 0..11.
    private static readonly byte[] DcBits = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
    private static readonly byte[] DcValues = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    // An AC table with the only symbol flat blocks need: EOB (0x00), code "0" (1 bit; not all ones, as T.81 requires).
    private static readonly byte[] AcBits = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    private static readonly byte[] AcValues = [0x00];

    /// <summary>Canonical Huffman codes from a DHT's BITS/HUFFVAL (T.81 Annex C): symbol → (code, length).</summary>
    private static Dictionary<int, (uint Code, int Length)> HuffmanCodes(byte[] bits, byte[] values)
    {
        var codes = new Dictionary<int, (uint, int)>();
        uint code = 0;
        var k = 0;
        for (var length = 1; length <= 16; length++)
        {
            for (var n = 0; n < bits[length - 1]; n++)
                codes[values[k++]] = (code++, length);
            code <<= 1;
        }
        return codes;
    }

    /// <summary>MSB-first bit writer with JPEG byte stuffing (0xFF → 0xFF 0x00) and 1-bit padding at the end.</summary>
    private sealed class BitWriter(Stream s)
    {
        private uint _acc;
        private int _count;

        public void Write((uint Code, int Length) code)
        {
            for (var i = code.Length - 1; i >= 0; i--)
            {
                _acc = (_acc << 1) | ((code.Code >> i) & 1);
                if (++_count == 8)
                    Emit();
            }
        }

        public void Flush()
        {
            while (_count != 0)
                Write((1, 1));
        }

        private void Emit()
        {
            var b = (byte)_acc;
            s.WriteByte(b);
            if (b == 0xFF)
                s.WriteByte(0);
            _acc = 0;
            _count = 0;
        }
    }

    /// <summary>CRC-32 (IEEE 802.3, reflected 0xEDB88320) as PNG chunks use; System.IO.Hashing is not restorable here.</summary>
    private static class Crc32
    {
        private static readonly uint[] Table = Enumerable.Range(0, 256).Select(n =>
        {
            var c = (uint)n;
            for (var k = 0; k < 8; k++)
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            return c;
        }).ToArray();

        public static uint Update(uint crc, ReadOnlySpan<byte> data)
        {
            foreach (var b in data)
                crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
            return crc;
        }
    }
}
