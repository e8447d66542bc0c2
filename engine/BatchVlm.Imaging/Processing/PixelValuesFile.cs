// A minimal safetensors writer for preprocessed batches (`batchvlm preprocess`): one float32 tensor, default name
// "pixel_values", shape (N, 3, H, W). Layout per the safetensors format (huggingface/safetensors docs, format 0.4):
// u64 little-endian header length, a JSON header padded with spaces to 8 bytes, then the raw little-endian data.
// Kept inside Imaging so the CLI does not depend on the engine's loader.
using System.Runtime.InteropServices;
using System.Text;

namespace BatchVlm.Imaging.Processing;

public static class PixelValuesFile
{
    /// <summary>Writes <paramref name="path"/>; a shape that does not fit the data throws before the file is created.</summary>
    public static void Write(string path, ReadOnlySpan<float> data, ReadOnlySpan<long> shape, string name = "pixel_values",
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = Header(data, shape, name, metadata);
        using var stream = File.Create(path);
        WriteFile(stream, header, data);
    }

    public static void Write(Stream stream, ReadOnlySpan<float> data, ReadOnlySpan<long> shape, string name = "pixel_values",
        IReadOnlyDictionary<string, string>? metadata = null) =>
        WriteFile(stream, Header(data, shape, name, metadata), data);

    /// <summary>The JSON header padded with spaces to a multiple of 8 bytes, after checking the shape against the data.</summary>
    private static byte[] Header(ReadOnlySpan<float> data, ReadOnlySpan<long> shape, string name, IReadOnlyDictionary<string, string>? metadata)
    {
        long count = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"shape ({string.Join(", ", shape.ToArray())}) has a negative dimension", nameof(shape));
            count = checked(count * d);
        }
        if (count != data.Length) throw new ArgumentException($"shape ({string.Join(", ", shape.ToArray())}) holds {count} values, data has {data.Length}");
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian host");
        var json = new StringBuilder("{");
        if (metadata is { Count: > 0 })
        {
            json.Append("\"__metadata__\":{");
            json.Append(string.Join(",", metadata.OrderBy(k => k.Key, StringComparer.Ordinal).Select(kv => $"{Quote(kv.Key)}:{Quote(kv.Value)}")));
            json.Append("},");
        }
        json.Append($"{Quote(name)}:{{\"dtype\":\"F32\",\"shape\":[{string.Join(",", shape.ToArray())}],\"data_offsets\":[0,{count * 4}]}}}}");
        int length = Encoding.UTF8.GetByteCount(json.ToString());
        var header = new byte[(length + 7) / 8 * 8];
        Encoding.UTF8.GetBytes(json.ToString(), header);
        header.AsSpan(length).Fill((byte)' ');
        return header;
    }

    private static void WriteFile(Stream stream, byte[] header, ReadOnlySpan<float> data)
    {
        Span<byte> prefix = stackalloc byte[8];
        BitConverter.TryWriteBytes(prefix, (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);
        stream.Write(MemoryMarshal.AsBytes(data));
    }

    private static string Quote(string s) => System.Text.Json.JsonSerializer.Serialize(s);
}
