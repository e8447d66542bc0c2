// A minimal safetensors writer for preprocessed batches (`batchvlm preprocess`): one float32 tensor, default name
// "pixel_values", shape (N, 3, H, W). Layout per the safetensors format (huggingface/safetensors docs, format 0.4):
// u64 little-endian header length, a JSON header padded with spaces to 8 bytes, then the raw little-endian data.
// Kept inside Imaging so the CLI does not depend on the engine's loader.
using System.Runtime.InteropServices;
using System.Text;

namespace BatchVlm.Imaging.Processing;

public static class PixelValuesFile
{
    public static void Write(string path, ReadOnlySpan<float> data, ReadOnlySpan<long> shape, string name = "pixel_values",
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var stream = File.Create(path);
        Write(stream, data, shape, name, metadata);
    }

    public static void Write(Stream stream, ReadOnlySpan<float> data, ReadOnlySpan<long> shape, string name = "pixel_values",
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        long count = 1;
        foreach (var d in shape) count *= d;
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
        var header = Encoding.UTF8.GetBytes(json.ToString());
        int padded = (header.Length + 7) / 8 * 8;
        Span<byte> prefix = stackalloc byte[8];
        BitConverter.TryWriteBytes(prefix, (ulong)padded);
        stream.Write(prefix);
        stream.Write(header);
        for (int i = header.Length; i < padded; i++) stream.WriteByte((byte)' ');
        stream.Write(MemoryMarshal.AsBytes(data));
    }

    private static string Quote(string s) => System.Text.Json.JsonSerializer.Serialize(s);
}
