// Inputs handed to a parity case (inputs.safetensors, read as host arrays or engine tensors) and the outputs it
// returns (host copies of what it computed, floats or integer ids, with shapes).
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Parity;

/// <summary>A fixture's inputs.safetensors.</summary>
public sealed class ParityInputs : IDisposable
{
    public ParityInputs(SafetensorsFile file) => File = file;

    public static ParityInputs Open(string path) => new(SafetensorsFile.Open(path));

    public SafetensorsFile File { get; }
    public IEnumerable<string> Names => File.Tensors.Select(t => t.Name);
    public bool Contains(string name) => File.Contains(name);
    public int[] Shape(string name) => (int[])Info(name).Shape.Clone();
    public float[] Floats(string name) => File.ReadFloat32(Info(name).Name);
    public long[] Int64(string name) => File.ReadInt64(Info(name).Name);

    /// <summary>The input as a tensor on <paramref name="backend"/>: float inputs as F32, integer inputs as I64.</summary>
    public Tensor Tensor(IBackend backend, string name)
    {
        var info = Info(name);
        return info.Dtype.IsFloat() ? backend.FromFloats(Floats(name), info.Shape) : backend.FromInt64(Int64(name), info.Shape);
    }

    private SafetensorsTensorInfo Info(string name) =>
        File.TryGetInfo(name, out var info) ? info
            : throw new ModelLoadException($"Input '{name}' not found in {File.Path} (has: {string.Join(", ", Names)})");

    public void Dispose() => File.Dispose();
}

/// <summary>One computed tensor, copied to the host: exactly one of Floats / Ints is set.</summary>
public sealed record ParityValue(int[] Shape, float[]? Floats, long[]? Ints)
{
    public bool IsInteger => Ints != null;
    public long Count => Floats?.Length ?? Ints!.Length;
}

/// <summary>What a parity case computed, by expected name.</summary>
public sealed class ParityOutputs
{
    private readonly Dictionary<string, ParityValue> _values = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, ParityValue> Values => _values;
    public int Count => _values.Count;

    public ParityOutputs Add(string name, float[] data, params int[] shape) => Put(name, new ParityValue((int[])shape.Clone(), data, null));

    public ParityOutputs Add(string name, long[] data, params int[] shape) => Put(name, new ParityValue((int[])shape.Clone(), null, data));

    /// <summary>Copies <paramref name="tensor"/> to the host: I64/I32 as ids, everything else as f32.</summary>
    public ParityOutputs Add(string name, Tensor tensor)
    {
        int[] shape = tensor.Shape.ToArray();
        return tensor.DType is DType.I64 or DType.I32
            ? Add(name, tensor.ToInt64Array(), shape)
            : Add(name, tensor.ToFloatArray(), shape);
    }

    private ParityOutputs Put(string name, ParityValue value)
    {
        long n = 1;
        foreach (int d in value.Shape) n *= d;
        if (n != value.Count)
            throw new ArgumentException($"Parity output '{name}': {value.Count} values do not fill shape {SafetensorsTensorInfo.FormatShape(value.Shape)}");
        if (!_values.TryAdd(name, value))
            throw new ArgumentException($"Parity output '{name}' added twice");
        return this;
    }
}
