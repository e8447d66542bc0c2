// Tensor: a shape + element strides + offset over a backend-owned Storage. Views (Reshape of contiguous data,
// Transpose, Permute, Narrow, Select, Unsqueeze, Squeeze) never copy. Operations are methods that forward to
// the tensor's backend, so model code reads like `x.Linear(w, b).Activate(Activation.GeluTanh)` and never names
// a backend. Dispose is optional: it returns memory early (the storage is freed when its last view is disposed).
namespace BatchVlm.Engine.Tensors;

using BatchVlm.Engine.Backends;

public sealed class Tensor : IDisposable
{
    private readonly int[] _shape;
    private readonly long[] _strides;
    private int _disposed;

    public Tensor(Storage storage, int[] shape, long[] strides, long offset)
    {
        ArgumentNullException.ThrowIfNull(storage);
        if (shape.Length != strides.Length)
            throw new ArgumentException($"shape has {shape.Length} dims but strides has {strides.Length}");
        foreach (var d in shape)
            if (d < 0) throw new ArgumentException($"negative dimension in shape {ShapeString(shape)}");
        Storage = storage;
        _shape = shape;
        _strides = strides;
        Offset = offset;
        long n = 1;
        foreach (var d in shape) n *= d;
        ElementCount = n;
        if (n > 0)
        {
            long lo = offset, hi = offset;
            for (int i = 0; i < shape.Length; i++)
            {
                long span = (shape[i] - 1) * strides[i];
                if (span < 0) lo += span; else hi += span;
            }
            if (lo < 0 || hi >= storage.ElementCount)
                throw new ArgumentException(
                    $"view {ShapeString(shape)} strides ({string.Join(", ", strides)}) offset {offset} exceeds a storage of {storage.ElementCount} elements");
        }
        storage.AddRef();
    }

    /// <summary>A contiguous (row-major) tensor over the whole storage.</summary>
    public Tensor(Storage storage, int[] shape) : this(storage, shape, ContiguousStrides(shape), 0) { }

    public Storage Storage { get; }
    public IBackend Backend => Storage.Backend;
    public DType DType => Storage.DType;
    public IReadOnlyList<int> Shape => _shape;
    public IReadOnlyList<long> Strides => _strides;
    /// <summary>Offset of element [0, 0, ...] into the storage, in elements.</summary>
    public long Offset { get; }
    public int Rank => _shape.Length;
    public long ElementCount { get; }

    /// <summary>Size of dimension <paramref name="dim"/>; negative counts from the end.</summary>
    public int Dim(int dim) => _shape[Axis(dim)];
    public long Stride(int dim) => _strides[Axis(dim)];
    internal int[] ShapeArray => _shape;
    internal long[] StrideArray => _strides;

    public bool IsContiguous
    {
        get
        {
            long expected = 1;
            for (int i = _shape.Length - 1; i >= 0; i--)
            {
                if (_shape[i] != 1 && _strides[i] != expected) return false;
                expected *= _shape[i];
            }
            return true;
        }
    }

    public int Axis(int dim)
    {
        int a = dim < 0 ? dim + _shape.Length : dim;
        if (a < 0 || a >= _shape.Length)
            throw new ArgumentOutOfRangeException(nameof(dim), $"dimension {dim} out of range for a tensor of shape {ShapeString(_shape)}");
        return a;
    }

    public override string ToString() => $"Tensor{ShapeString(_shape)} {DType} on {Backend.Name}";

    public static string ShapeString(IReadOnlyList<int> shape) => "(" + string.Join(", ", shape) + ")";

    public static long[] ContiguousStrides(int[] shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            s[i] = acc;
            acc *= shape[i];
        }
        return s;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
            Storage.RemoveRef();
    }

    // ---------------------------------------------------------------- views (no copy)

    /// <summary>Same data, new shape; one dimension may be -1. Copies (through the backend) only when the strides
    /// cannot express the new shape.</summary>
    public Tensor Reshape(params int[] shape)
    {
        shape = (int[])shape.Clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == -1)
            {
                if (infer >= 0) throw new ArgumentException($"reshape {ShapeString(_shape)} -> {ShapeString(shape)}: more than one -1");
                infer = i;
            }
            else known *= shape[i];
        }
        if (infer >= 0)
        {
            if (known == 0 || ElementCount % known != 0)
                throw new ArgumentException($"reshape {ShapeString(_shape)} -> {ShapeString(shape)}: cannot infer -1");
            shape[infer] = (int)(ElementCount / known);
        }
        long total = 1;
        foreach (var d in shape) total *= d;
        if (total != ElementCount)
            throw new ArgumentException($"reshape {ShapeString(_shape)} ({ElementCount} elements) -> {ShapeString(shape)} ({total} elements)");
        var strides = TryViewStrides(shape);
        if (strides is not null) return new Tensor(Storage, shape, strides, Offset);
        using var c = Contiguous();
        return new Tensor(c.Storage, shape, ContiguousStrides(shape), c.Offset);
    }

    // Stride computation of torch's `view` (aten computeStride): split/merge runs of dims that are contiguous.
    private long[]? TryViewStrides(int[] newShape)
    {
        if (ElementCount == 0 || Rank == 0) return ContiguousStrides(newShape);
        var newStrides = new long[newShape.Length];
        int viewD = newShape.Length - 1;
        long chunkBaseStride = _strides[^1];
        long tensorNumel = 1, viewNumel = 1;
        for (int tensorD = Rank - 1; tensorD >= 0; tensorD--)
        {
            tensorNumel *= _shape[tensorD];
            if (tensorD == 0 || (_shape[tensorD - 1] != 1 && _strides[tensorD - 1] != tensorNumel * chunkBaseStride))
            {
                while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] == 1))
                {
                    newStrides[viewD] = viewNumel * chunkBaseStride;
                    viewNumel *= newShape[viewD];
                    viewD--;
                }
                if (viewNumel != tensorNumel) return null;
                if (tensorD > 0)
                {
                    chunkBaseStride = _strides[tensorD - 1];
                    tensorNumel = 1;
                    viewNumel = 1;
                }
            }
        }
        return viewD == -1 ? newStrides : null;
    }

    public Tensor Transpose(int dim0, int dim1)
    {
        int a = Axis(dim0), b = Axis(dim1);
        var shape = (int[])_shape.Clone();
        var strides = (long[])_strides.Clone();
        (shape[a], shape[b]) = (shape[b], shape[a]);
        (strides[a], strides[b]) = (strides[b], strides[a]);
        return new Tensor(Storage, shape, strides, Offset);
    }

    public Tensor Permute(params int[] dims)
    {
        if (dims.Length != Rank)
            throw new ArgumentException($"permute of a rank-{Rank} tensor needs {Rank} dims, got {dims.Length}");
        var shape = new int[Rank];
        var strides = new long[Rank];
        var seen = new bool[Rank];
        for (int i = 0; i < Rank; i++)
        {
            int a = Axis(dims[i]);
            if (seen[a]) throw new ArgumentException($"permute: dimension {a} repeated");
            seen[a] = true;
            shape[i] = _shape[a];
            strides[i] = _strides[a];
        }
        return new Tensor(Storage, shape, strides, Offset);
    }

    /// <summary>Elements [start, start+length) along <paramref name="dim"/> (torch.narrow).</summary>
    public Tensor Narrow(int dim, int start, int length)
    {
        int a = Axis(dim);
        if (start < 0 || length < 0 || start + length > _shape[a])
            throw new ArgumentOutOfRangeException(nameof(start), $"narrow dim {dim} [{start}, {start + length}) of shape {ShapeString(_shape)}");
        var shape = (int[])_shape.Clone();
        shape[a] = length;
        return new Tensor(Storage, shape, (long[])_strides.Clone(), Offset + start * _strides[a]);
    }

    /// <summary>Index <paramref name="index"/> along <paramref name="dim"/>, removing that dimension.</summary>
    public Tensor Select(int dim, int index)
    {
        int a = Axis(dim);
        if (index < 0) index += _shape[a];
        if (index < 0 || index >= _shape[a])
            throw new ArgumentOutOfRangeException(nameof(index), $"select index {index} on dim {dim} of shape {ShapeString(_shape)}");
        var shape = _shape.Where((_, i) => i != a).ToArray();
        var strides = _strides.Where((_, i) => i != a).ToArray();
        return new Tensor(Storage, shape, strides, Offset + index * _strides[a]);
    }

    public Tensor Unsqueeze(int dim)
    {
        int a = dim < 0 ? dim + Rank + 1 : dim;
        if (a < 0 || a > Rank) throw new ArgumentOutOfRangeException(nameof(dim), $"unsqueeze {dim} of rank {Rank}");
        var shape = _shape.ToList();
        var strides = _strides.ToList();
        shape.Insert(a, 1);
        strides.Insert(a, a < Rank ? _strides[a] * _shape[a] : 1);
        return new Tensor(Storage, shape.ToArray(), strides.ToArray(), Offset);
    }

    public Tensor Squeeze(int dim)
    {
        int a = Axis(dim);
        if (_shape[a] != 1) throw new ArgumentException($"squeeze dim {dim} of shape {ShapeString(_shape)}: size is not 1");
        return Select(a, 0);
    }

    /// <summary>Repeat size-1 dims to <paramref name="shape"/> with stride 0 (torch.expand); no copy.</summary>
    public Tensor Expand(params int[] shape)
    {
        if (shape.Length < Rank) throw new ArgumentException($"expand {ShapeString(_shape)} -> {ShapeString(shape)}: fewer dims");
        var strides = new long[shape.Length];
        int lead = shape.Length - Rank;
        var newShape = (int[])shape.Clone();
        for (int i = 0; i < shape.Length; i++)
        {
            if (i < lead) { strides[i] = 0; continue; }
            int src = _shape[i - lead];
            if (shape[i] == -1) newShape[i] = src;
            if (src == newShape[i]) strides[i] = _strides[i - lead];
            else if (src == 1) strides[i] = 0;
            else throw new ArgumentException($"expand {ShapeString(_shape)} -> {ShapeString(shape)}: dim {i} is {src}, not 1");
        }
        return new Tensor(Storage, newShape, strides, Offset);
    }

    // ---------------------------------------------------------------- host transfer

    /// <summary>Every element in logical (row-major) order, converted to float.</summary>
    public float[] ToFloatArray()
    {
        var r = new float[ElementCount];
        Backend.Read(this, r);
        return r;
    }

    /// <summary>Every element in logical order, converted to long (ids, masks, argmax results).</summary>
    public long[] ToInt64Array()
    {
        var r = new long[ElementCount];
        Backend.Read(this, r);
        return r;
    }

    /// <summary>A rank-2 tensor as float[rows, cols].</summary>
    public float[,] ToFloat2D()
    {
        if (Rank != 2) throw new InvalidOperationException($"ToFloat2D needs rank 2, got {ShapeString(_shape)}");
        var flat = ToFloatArray();
        var r = new float[_shape[0], _shape[1]];
        Buffer.BlockCopy(flat, 0, r, 0, flat.Length * sizeof(float));
        return r;
    }

    public float Item()
    {
        if (ElementCount != 1) throw new InvalidOperationException($"Item() of a tensor with {ElementCount} elements {ShapeString(_shape)}");
        return ToFloatArray()[0];
    }

    // ---------------------------------------------------------------- ops (forwarded to the backend)

    public Tensor Contiguous() => IsContiguous ? new Tensor(Storage, _shape, _strides, Offset) : Backend.Contiguous(this);
    public Tensor To(DType dtype) => Backend.Cast(this, dtype);
    public Tensor MatMul(Tensor other) => Backend.MatMul(this, other);
    public Tensor Linear(Tensor weight, Tensor? bias = null) => Backend.Linear(this, weight, bias);
    public Tensor Add(Tensor other) => Backend.Add(this, other);
    public Tensor Mul(Tensor other) => Backend.Mul(this, other);
    public Tensor Scale(float scale, float shift = 0f) => Backend.Affine(this, scale, shift);
    public Tensor Activate(Activation activation) => Backend.Activate(this, activation);
    public Tensor LayerNorm(Tensor? weight, Tensor? bias, float eps) => Backend.LayerNorm(this, weight, bias, eps);
    public Tensor RmsNorm(Tensor? weight, float eps) => Backend.RmsNorm(this, weight, eps);
    public Tensor L2Normalize(float eps = 1e-12f) => Backend.L2Normalize(this, eps);
    public Tensor Softmax(float scale = 1f) => Backend.Softmax(this, scale, log: false);
    public Tensor LogSoftmax() => Backend.Softmax(this, 1f, log: true);
    public Tensor Sum(int dim) => Backend.Sum(this, dim);
    public Tensor Argmax() => Backend.Argmax(this);

    public static Tensor operator +(Tensor a, Tensor b) => a.Backend.Add(a, b);
    public static Tensor operator *(Tensor a, Tensor b) => a.Backend.Mul(a, b);
    public static Tensor operator *(Tensor a, float s) => a.Backend.Affine(a, s, 0f);
}
