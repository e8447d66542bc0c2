// Writes safetensors files byte-compatible with huggingface/safetensors 0.4.x (safetensors/src/tensor.rs `prepare`/
// `serialize`): u64 little-endian header length, compact JSON header with "__metadata__" first, header padded with
// spaces to a multiple of 8, tensors laid out by dtype alignment (largest first) then name. Also writes sharded
// checkpoints the way transformers' save_pretrained does (model-0000i-of-0000n.safetensors + model.safetensors.index.json).
// Used by `parity --save`, the tests and the loading benchmark's random checkpoints (filled chunk by chunk, so a
// multi-GB checkpoint is written without holding it in memory).
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace BatchVlm.Engine.Loading;

/// <summary>Collects tensors, then writes one safetensors file (or a sharded checkpoint).</summary>
public sealed class SafetensorsWriter
{
    /// <summary>Fills <paramref name="chunk"/> with the tensor's bytes starting at byte <paramref name="offset"/>.</summary>
    public delegate void ChunkFiller(long offset, Span<byte> chunk);

    private sealed record Entry(string Name, SafetensorsDtype Dtype, int[] Shape, long ByteLength, ReadOnlyMemory<byte>? Data, ChunkFiller? Fill);

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>Written as <c>__metadata__</c>; transformers expects {"format": "pt"}, which is the default.</summary>
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal) { ["format"] = "pt" };

    public int Count => _entries.Count;
    public IEnumerable<string> Names => _entries.Keys;

    public SafetensorsWriter Add(string name, SafetensorsDtype dtype, int[] shape, ReadOnlyMemory<byte> data)
    {
        long bytes = ByteLength(name, dtype, shape);
        if (data.Length != bytes)
            throw new ArgumentException($"Tensor '{name}': {data.Length} bytes given, {dtype.ToHeaderName()} {SafetensorsTensorInfo.FormatShape(shape)} needs {bytes}");
        return AddEntry(new Entry(name, dtype, (int[])shape.Clone(), bytes, data, null));
    }

    public SafetensorsWriter Add(string name, float[] data, int[] shape) =>
        Add(name, SafetensorsDtype.F32, shape, MemoryMarshal.AsBytes(data.AsSpan()).ToArray());

    public SafetensorsWriter Add(string name, long[] data, int[] shape) =>
        Add(name, SafetensorsDtype.I64, shape, MemoryMarshal.AsBytes(data.AsSpan()).ToArray());

    /// <summary>Float data stored as BF16 (round to nearest even).</summary>
    public SafetensorsWriter AddBFloat16(string name, float[] data, int[] shape)
    {
        var bits = new ushort[data.Length];
        for (int i = 0; i < data.Length; i++) bits[i] = DtypeConversion.SingleToBFloat16(data[i]);
        return Add(name, SafetensorsDtype.BF16, shape, MemoryMarshal.AsBytes(bits.AsSpan()).ToArray());
    }

    /// <summary>A tensor whose bytes are produced while writing, chunk by chunk (large random checkpoints).</summary>
    public SafetensorsWriter AddGenerated(string name, SafetensorsDtype dtype, int[] shape, ChunkFiller fill) =>
        AddEntry(new Entry(name, dtype, (int[])shape.Clone(), ByteLength(name, dtype, shape), null, fill));

    private SafetensorsWriter AddEntry(Entry e)
    {
        if (e.Name == "__metadata__" || e.Name.Length == 0)
            throw new ArgumentException($"Invalid tensor name '{e.Name}'");
        if (!_entries.TryAdd(e.Name, e))
            throw new ArgumentException($"Tensor '{e.Name}' added twice");
        return this;
    }

    private static long ByteLength(string name, SafetensorsDtype dtype, int[] shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Tensor '{name}': negative dimension in {SafetensorsTensorInfo.FormatShape(shape)}");
            n = checked(n * d);
        }
        return checked(n * dtype.SizeOf());
    }

    /// <summary>Writes one file atomically (temp file + rename). Returns the file size.</summary>
    public long Save(string path) => WriteFile(path, Ordered(_entries.Values), Metadata);

    /// <summary>
    /// Writes a sharded checkpoint into <paramref name="directory"/> like transformers' save_pretrained: tensors in
    /// layout order are cut into shards of at most <paramref name="maxShardBytes"/> data bytes (a larger tensor gets a
    /// shard of its own), named <c>{prefix}-00001-of-0000N.safetensors</c>, plus <c>{prefix}.safetensors.index.json</c>
    /// with <c>metadata.total_size</c> and the <c>weight_map</c>. With one shard, writes <c>{prefix}.safetensors</c> only.
    /// </summary>
    public IReadOnlyList<string> SaveSharded(string directory, long maxShardBytes, string prefix = "model")
    {
        Directory.CreateDirectory(directory);
        var shards = new List<List<Entry>>();
        long current = 0;
        foreach (var e in Ordered(_entries.Values))
        {
            if (shards.Count == 0 || (current > 0 && current + e.ByteLength > maxShardBytes))
            {
                shards.Add([]);
                current = 0;
            }
            shards[^1].Add(e);
            current += e.ByteLength;
        }
        if (shards.Count <= 1)
        {
            string single = Path.Combine(directory, prefix + ".safetensors");
            WriteFile(single, shards.Count == 0 ? [] : shards[0], Metadata);
            return [single];
        }
        var files = new List<string>();
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        long total = 0;
        for (int i = 0; i < shards.Count; i++)
        {
            string name = $"{prefix}-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            string path = Path.Combine(directory, name);
            WriteFile(path, shards[i], Metadata);
            files.Add(path);
            foreach (var e in shards[i]) { weightMap[e.Name] = name; total += e.ByteLength; }
        }
        var index = new Dictionary<string, object>
        {
            ["metadata"] = new Dictionary<string, long> { ["total_size"] = total },
            ["weight_map"] = weightMap,
        };
        string indexPath = Path.Combine(directory, prefix + ".safetensors.index.json");
        File.WriteAllText(indexPath, JsonSerializer.Serialize(index, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        files.Add(indexPath);
        return files;
    }

    // safetensors orders by alignment (dtype size) descending, then by name.
    private static List<Entry> Ordered(IEnumerable<Entry> entries) =>
        entries.OrderByDescending(e => e.Dtype.SizeOf()).ThenBy(e => e.Name, StringComparer.Ordinal).ToList();

    private static long WriteFile(string path, List<Entry> entries, IReadOnlyDictionary<string, string> metadata)
    {
        byte[] header = BuildHeader(entries, metadata);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir != null) Directory.CreateDirectory(dir);
        string tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> len = stackalloc byte[8];
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
                fs.Write(len);
                fs.Write(header);
                byte[]? buffer = null;
                foreach (var e in entries)
                {
                    if (e.Data is { } data)
                    {
                        fs.Write(data.Span);
                        continue;
                    }
                    buffer ??= new byte[4 << 20];
                    for (long off = 0; off < e.ByteLength; off += buffer.Length)
                    {
                        var chunk = buffer.AsSpan(0, (int)Math.Min(buffer.Length, e.ByteLength - off));
                        e.Fill!(off, chunk);
                        fs.Write(chunk);
                    }
                }
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
        return new FileInfo(path).Length;
    }

    private static byte[] BuildHeader(List<Entry> entries, IReadOnlyDictionary<string, string> metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata.Count > 0)
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var e in entries)
            {
                w.WriteStartObject(e.Name);
                w.WriteString("dtype", e.Dtype.ToHeaderName());
                w.WriteStartArray("shape");
                foreach (int d in e.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + e.ByteLength);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += e.ByteLength;
            }
            w.WriteEndObject();
        }
        int n = (int)ms.Length;
        int padded = (n + 7) / 8 * 8;
        var bytes = new byte[padded];
        ms.GetBuffer().AsSpan(0, n).CopyTo(bytes);
        bytes.AsSpan(n).Fill((byte)' ');
        return bytes;
    }

    /// <summary>UTF-8 header bytes for <paramref name="names"/>; exposed for tests comparing against reference files.</summary>
    internal static string HeaderText(SafetensorsWriter writer) =>
        Encoding.UTF8.GetString(BuildHeader(Ordered(writer._entries.Values), writer.Metadata));
}
