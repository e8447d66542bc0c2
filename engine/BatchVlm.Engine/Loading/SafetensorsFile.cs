// One safetensors file, memory-mapped read-only. Tensor bytes are never copied: GetBytes/GetPointer hand out views
// into the mapping, valid until the file is disposed.
// Format (huggingface/safetensors, docs/safetensors format, v0.4.x): u64 little-endian header length N, N bytes of
// JSON {"__metadata__": {str: str}?, name: {"dtype", "shape", "data_offsets": [begin, end]}} (offsets relative to the
// byte after the header), then the data. Validation follows safetensors/src/tensor.rs `validate`: offsets contiguous
// from 0, no holes or overlaps, covering the data exactly, and end - begin == prod(shape) * sizeof(dtype).
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace BatchVlm.Engine.Loading;

/// <summary>Where one tensor lives: dtype, shape and absolute byte range in its file.</summary>
public sealed record SafetensorsTensorInfo(string Name, SafetensorsDtype Dtype, int[] Shape, long FileOffset, long ByteLength, string FilePath)
{
    public long ElementCount => ByteLength / Dtype.SizeOf();
    public string FileName => System.IO.Path.GetFileName(FilePath);
    /// <summary>"(4304, 1152)": the shape as PyTorch prints it, used in every error message.</summary>
    public string ShapeText => FormatShape(Shape);

    public static string FormatShape(IReadOnlyList<int> shape) =>
        shape.Count == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";
}

/// <summary>A memory-mapped safetensors file.</summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    /// <summary>safetensors refuses headers above 100 MB (MAX_HEADER_SIZE); so do we.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _base;
    private readonly Dictionary<string, SafetensorsTensorInfo> _byName;
    private bool _disposed;

    public string Path { get; }
    public string FileName => System.IO.Path.GetFileName(Path);
    public long FileLength { get; }
    /// <summary>Byte offset of the first tensor byte (8 + header length).</summary>
    public long DataStart { get; }
    /// <summary>The optional <c>__metadata__</c> map (e.g. {"format": "pt"}).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>Every tensor, in file order.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }

    private SafetensorsFile(string path, long length, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* basePtr,
        long dataStart, Dictionary<string, string> metadata, List<SafetensorsTensorInfo> tensors)
    {
        Path = path; FileLength = length; _map = map; _view = view; _base = basePtr; DataStart = dataStart;
        Metadata = metadata; Tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>Maps the file read-only and validates its header. Throws <see cref="ModelLoadException"/> naming the file.</summary>
    public static SafetensorsFile Open(string path)
    {
        path = System.IO.Path.GetFullPath(path);
        // HF cache snapshots are symlinks into blobs/: FileInfo describes the link itself, so resolve it first.
        var fileInfo = new FileInfo(path);
        if (fileInfo.LinkTarget != null)
            fileInfo = fileInfo.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? fileInfo;
        if (!fileInfo.Exists)
            throw new ModelLoadException($"Safetensors file not found: {path}{(fileInfo.FullName != path ? $" (link to missing {fileInfo.FullName})" : "")}");
        long length = fileInfo.Length;
        if (length < 8)
            throw new ModelLoadException($"Invalid safetensors file {path}: {length} bytes is too short for the 8-byte header length");

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        byte* basePtr = null;
        try
        {
            using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete))
                map = MemoryMappedFile.CreateFromFile(fs, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
            basePtr += view.PointerOffset;

            var (dataStart, metadata, tensors) = ParseHeader(path, basePtr, length);
            return new SafetensorsFile(path, length, map, view, basePtr, dataStart, metadata, tensors);
        }
        catch (Exception e)
        {
            if (basePtr != null) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            map?.Dispose();
            if (e is ModelLoadException) throw;
            throw new ModelLoadException($"Cannot map safetensors file {path}: {e.Message}", e);
        }
    }

    private static (long, Dictionary<string, string>, List<SafetensorsTensorInfo>) ParseHeader(string path, byte* basePtr, long length)
    {
        ulong headerLen = BitConverter.IsLittleEndian ? *(ulong*)basePtr : System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(*(ulong*)basePtr);
        if (headerLen > MaxHeaderBytes)
            throw new ModelLoadException($"Invalid safetensors file {path}: header length {headerLen} exceeds the {MaxHeaderBytes}-byte limit (not a safetensors file?)");
        if ((long)headerLen > length - 8)
            throw new ModelLoadException($"Invalid safetensors file {path}: header length {headerLen} runs past the end of the {length}-byte file (truncated?)");
        long dataStart = 8 + (long)headerLen;
        long dataLength = length - dataStart;
        var headerSpan = new ReadOnlySpan<byte>(basePtr + 8, (int)headerLen);
        if (headerSpan.Length == 0 || headerSpan[0] != (byte)'{')
            throw new ModelLoadException($"Invalid safetensors file {path}: header does not start with '{{'");

        JsonDocument doc;
        try { doc = JsonDocument.Parse(headerSpan.ToArray()); }
        catch (JsonException e)
        {
            throw new ModelLoadException($"Invalid safetensors file {path}: header is not valid JSON ({e.Message})", e);
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var tensors = new List<SafetensorsTensorInfo>();
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new ModelLoadException($"Invalid safetensors file {path}: header is not a JSON object");
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object)
                        throw new ModelLoadException($"Invalid safetensors file {path}: __metadata__ is not an object");
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String)
                            throw new ModelLoadException($"Invalid safetensors file {path}: __metadata__ value '{m.Name}' is not a string");
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                tensors.Add(ParseEntry(path, prop, dataStart));
            }
        }

        // Offsets must tile [0, dataLength) exactly, like safetensors' own validation.
        tensors.Sort((a, b) => a.FileOffset != b.FileOffset ? a.FileOffset.CompareTo(b.FileOffset) : a.ByteLength.CompareTo(b.ByteLength));
        long expected = dataStart;
        foreach (var t in tensors)
        {
            if (t.FileOffset != expected)
                throw new ModelLoadException(t.FileOffset > expected
                    ? $"Invalid safetensors file {path}: tensor '{t.Name}' starts at data offset {t.FileOffset - dataStart}, leaving a hole after offset {expected - dataStart}"
                    : $"Invalid safetensors file {path}: tensor '{t.Name}' at data offset {t.FileOffset - dataStart} overlaps the previous tensor ending at {expected - dataStart}");
            expected += t.ByteLength;
        }
        if (expected - dataStart != dataLength)
            throw new ModelLoadException(expected - dataStart > dataLength
                ? $"Invalid safetensors file {path}: tensors need {expected - dataStart} data bytes but the file holds {dataLength} (truncated?)"
                : $"Invalid safetensors file {path}: {dataLength - (expected - dataStart)} trailing bytes after the last tensor");
        return (dataStart, metadata, tensors);
    }

    private static SafetensorsTensorInfo ParseEntry(string path, JsonProperty prop, long dataStart)
    {
        string name = prop.Name;
        var v = prop.Value;
        string where = $"safetensors file {path}, tensor '{name}'";
        if (v.ValueKind != JsonValueKind.Object)
            throw new ModelLoadException($"Invalid {where}: entry is not an object");
        if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw new ModelLoadException($"Invalid {where}: missing \"dtype\"");
        if (!SafetensorsDtypes.TryParse(dt.GetString()!, out var dtype))
            throw new ModelLoadException($"Unsupported dtype \"{dt.GetString()}\" in {where} (supported: BOOL, U8, I8, I16, I32, I64, F16, BF16, F32, F64)");
        if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw new ModelLoadException($"Invalid {where}: missing \"shape\" array");
        var shape = new int[sh.GetArrayLength()];
        long count = 1;
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0 || dim > int.MaxValue)
                throw new ModelLoadException($"Invalid {where}: shape dimension {i} is not a non-negative integer below 2^31");
            shape[i++] = (int)dim;
            count = checked(count * dim);
        }
        if (!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new ModelLoadException($"Invalid {where}: \"data_offsets\" must be [begin, end]");
        if (!off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new ModelLoadException($"Invalid {where}: data_offsets [{off[0]}, {off[1]}] are not 0 <= begin <= end");
        long bytes = checked(count * dtype.SizeOf());
        if (end - begin != bytes)
            throw new ModelLoadException($"Invalid {where}: data_offsets [{begin}, {end}] span {end - begin} bytes but {dtype.ToHeaderName()} {SafetensorsTensorInfo.FormatShape(shape)} needs {bytes}");
        return new SafetensorsTensorInfo(name, dtype, shape, dataStart + begin, bytes, path);
    }

    public bool Contains(string name) => _byName.ContainsKey(name);

    public bool TryGetInfo(string name, out SafetensorsTensorInfo info) => _byName.TryGetValue(name, out info!);

    public SafetensorsTensorInfo GetInfo(string name) =>
        _byName.TryGetValue(name, out var info) ? info
            : throw new ModelLoadException($"Tensor '{name}' not found in {Path} ({_byName.Count} tensors)");

    /// <summary>Pointer to the tensor's first byte inside the mapping; valid until Dispose. Unaligned when the
    /// writer did not pad the header (our writer and safetensors pad to 8 bytes).</summary>
    public byte* GetPointer(SafetensorsTensorInfo info)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (info.FilePath != Path)
            throw new ArgumentException($"Tensor '{info.Name}' belongs to {info.FilePath}, not {Path}", nameof(info));
        return _base + info.FileOffset;
    }

    public byte* GetPointer(string name) => GetPointer(GetInfo(name));

    /// <summary>The tensor's raw little-endian bytes, a view into the mapping (no copy).</summary>
    public ReadOnlySpan<byte> GetBytes(SafetensorsTensorInfo info)
    {
        if (info.ByteLength > int.MaxValue)
            throw new ModelLoadException($"Tensor '{info.Name}' in {Path} is {info.ByteLength} bytes, too large for a span; use GetPointer");
        return new ReadOnlySpan<byte>(GetPointer(info), (int)info.ByteLength);
    }

    public ReadOnlySpan<byte> GetBytes(string name) => GetBytes(GetInfo(name));

    /// <summary>Copies a tensor out as float32, converting F16/BF16/F64/integers. For small tensors (inputs, tests).</summary>
    public float[] ReadFloat32(string name) => DtypeConversion.ToFloat32(GetInfo(name), GetBytes(name));

    /// <summary>Copies an integer tensor out as int64 (I64, I32, I16, I8, U8, BOOL).</summary>
    public long[] ReadInt64(string name) => DtypeConversion.ToInt64(GetInfo(name), GetBytes(name));

    /// <summary>Unmaps the file. Tensors wrapping its memory must not be used afterwards; tensors made with
    /// <c>vb.Tensor(...)</c> keep this object reachable, so an undisposed file is unmapped only once none is left.</summary>
    public void Dispose()
    {
        Release();
        GC.SuppressFinalize(this);
    }

    private void Release()
    {
        if (_disposed) return;
        _disposed = true;
        if (_view != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _map?.Dispose();
    }

    // AcquirePointer pins the view handle, so without this an unreachable, undisposed file would stay mapped for the
    // life of the process. SafeHandles are critically finalized after ordinary finalizers, so releasing here is safe.
    ~SafetensorsFile() => Release();
}

/// <summary>Element conversions from stored dtypes. BF16 is the top half of an IEEE float32; F16 goes through System.Half.</summary>
public static class DtypeConversion
{
    public static float BFloat16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Round-to-nearest-even float32 → bf16, NaN kept quiet (the rounding torch uses).</summary>
    public static ushort SingleToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    public static float[] ToFloat32(SafetensorsTensorInfo info, ReadOnlySpan<byte> bytes)
    {
        var result = new float[info.ElementCount];
        ToFloat32(info.Dtype, bytes, result, info.Name);
        return result;
    }

    public static void ToFloat32(SafetensorsDtype dtype, ReadOnlySpan<byte> bytes, Span<float> dst, string name)
    {
        switch (dtype)
        {
            case SafetensorsDtype.F32: MemoryMarshal.Cast<byte, float>(bytes).CopyTo(dst); break;
            case SafetensorsDtype.BF16:
                {
                    var src = MemoryMarshal.Cast<byte, ushort>(bytes);
                    for (int i = 0; i < src.Length; i++) dst[i] = BFloat16ToSingle(src[i]);
                    break;
                }
            case SafetensorsDtype.F16:
                {
                    var src = MemoryMarshal.Cast<byte, Half>(bytes);
                    for (int i = 0; i < src.Length; i++) dst[i] = (float)src[i];
                    break;
                }
            case SafetensorsDtype.F64:
                {
                    var src = MemoryMarshal.Cast<byte, double>(bytes);
                    for (int i = 0; i < src.Length; i++) dst[i] = (float)src[i];
                    break;
                }
            default:
                {
                    var tmp = new long[dst.Length];
                    ToInt64(dtype, bytes, tmp, name);
                    for (int i = 0; i < tmp.Length; i++) dst[i] = tmp[i];
                    break;
                }
        }
    }

    public static long[] ToInt64(SafetensorsTensorInfo info, ReadOnlySpan<byte> bytes)
    {
        var result = new long[info.ElementCount];
        ToInt64(info.Dtype, bytes, result, info.Name);
        return result;
    }

    public static void ToInt64(SafetensorsDtype dtype, ReadOnlySpan<byte> bytes, Span<long> dst, string name)
    {
        switch (dtype)
        {
            case SafetensorsDtype.I64: MemoryMarshal.Cast<byte, long>(bytes).CopyTo(dst); break;
            case SafetensorsDtype.I32:
                {
                    var src = MemoryMarshal.Cast<byte, int>(bytes);
                    for (int i = 0; i < src.Length; i++) dst[i] = src[i];
                    break;
                }
            case SafetensorsDtype.I16:
                {
                    var src = MemoryMarshal.Cast<byte, short>(bytes);
                    for (int i = 0; i < src.Length; i++) dst[i] = src[i];
                    break;
                }
            case SafetensorsDtype.I8:
                for (int i = 0; i < bytes.Length; i++) dst[i] = (sbyte)bytes[i];
                break;
            case SafetensorsDtype.U8:
            case SafetensorsDtype.Bool:
                for (int i = 0; i < bytes.Length; i++) dst[i] = bytes[i];
                break;
            default:
                throw new ModelLoadException($"Tensor '{name}' is {dtype.ToHeaderName()}, not an integer type");
        }
    }
}
