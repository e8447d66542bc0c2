// NumPy .npy files, version 1.0, written by hand so numpy.load / FAISS users read embedding shards directly.
// Format (numpy/lib/format.py, NEP 1): magic "\x93NUMPY", major 1, minor 0, little-endian uint16 header length, then an
// ASCII Python dict {'descr': '<f4', 'fortran_order': False, 'shape': (N, E), } padded with spaces and ended by '\n'
// so that the data starts at a multiple of 64 bytes; then the data, C order, little-endian.
using System.Buffers.Binary;
using System.Text;

namespace BatchVlm.Worker.Tasks;

public enum NpyDType
{
    Float32,
    Float16,
}

public static class NpyFormat
{
    public static string Descr(NpyDType dtype) => dtype == NpyDType.Float16 ? "<f2" : "<f4";

    /// <summary>The .npy bytes of <paramref name="values"/> (C order) with <paramref name="shape"/>.</summary>
    public static byte[] Write(ReadOnlySpan<float> values, IReadOnlyList<int> shape, NpyDType dtype)
    {
        long count = 1;
        foreach (var d in shape) count *= d;
        if (count != values.Length)
            throw new ArgumentException($"npy: {values.Length} values do not fill shape ({string.Join(", ", shape)})");
        var header = Header(shape, dtype);
        int itemSize = dtype == NpyDType.Float16 ? 2 : 4;
        var bytes = new byte[header.Length + values.Length * itemSize];
        header.CopyTo(bytes, 0);
        var data = bytes.AsSpan(header.Length);
        for (int i = 0; i < values.Length; i++)
        {
            if (dtype == NpyDType.Float16)
                BinaryPrimitives.WriteHalfLittleEndian(data.Slice(i * 2, 2), (Half)values[i]);
            else
                BinaryPrimitives.WriteSingleLittleEndian(data.Slice(i * 4, 4), values[i]);
        }
        return bytes;
    }

    /// <summary>Magic, version 1.0, header length and the padded header dict.</summary>
    public static byte[] Header(IReadOnlyList<int> shape, NpyDType dtype)
    {
        // A 1-tuple needs its trailing comma: (5,)
        var dims = shape.Count == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape)})";
        var dict = $"{{'descr': '{Descr(dtype)}', 'fortran_order': False, 'shape': {dims}, }}";
        int unpadded = 6 + 2 + 2 + dict.Length + 1;
        int total = (unpadded + 63) / 64 * 64;
        if (total - 10 > ushort.MaxValue)
            throw new ArgumentException("npy: header longer than version 1.0 allows");
        var text = dict + new string(' ', total - unpadded) + "\n";
        var header = new byte[total];
        header[0] = 0x93;
        Encoding.ASCII.GetBytes("NUMPY", header.AsSpan(1));
        header[6] = 1;
        header[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(8), (ushort)(total - 10));
        Encoding.ASCII.GetBytes(text, header.AsSpan(10));
        return header;
    }

    /// <summary>Reads a .npy v1.0 float file back (descr, shape, values as float) — for tests and tools.</summary>
    public static (string Descr, int[] Shape, float[] Values) Read(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 10 || bytes[0] != 0x93 || !bytes.Slice(1, 5).SequenceEqual("NUMPY"u8) || bytes[6] != 1)
            throw new FormatException("not a .npy version 1.x file");
        int headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.Slice(8));
        var dict = Encoding.ASCII.GetString(bytes.Slice(10, headerLength));
        string descr = Between(dict, "'descr': '", "'");
        var shapeText = Between(dict, "'shape': (", ")");
        var shape = shapeText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
        if (dict.Contains("'fortran_order': True", StringComparison.Ordinal))
            throw new FormatException("npy: Fortran order is not supported");
        var data = bytes.Slice(10 + headerLength);
        long count = shape.Aggregate(1L, (a, d) => a * d);
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = descr switch
            {
                "<f4" => BinaryPrimitives.ReadSingleLittleEndian(data.Slice(i * 4, 4)),
                "<f2" => (float)BinaryPrimitives.ReadHalfLittleEndian(data.Slice(i * 2, 2)),
                _ => throw new FormatException($"npy: dtype {descr} is not supported"),
            };
        }
        return (descr, shape, values);
    }

    private static string Between(string s, string start, string end)
    {
        int a = s.IndexOf(start, StringComparison.Ordinal);
        if (a < 0) throw new FormatException($"npy header lacks {start.Trim()}");
        a += start.Length;
        int b = s.IndexOf(end, a, StringComparison.Ordinal);
        return s[a..b];
    }
}
