// Key/value cache of a decoder: per layer, keys and values of every position seen so far, laid out
// (B, capacity, Hkv, D) so that the first L positions are a free view (B, L, Hkv, D) in the layout
// IBackend.Attention reads. Preallocated for prompt + max_new_tokens (HF's StaticCache idea; DynamicCache
// concatenates every step instead); grows by doubling if a caller goes past it. Rows can be gathered
// (beam search reorder, dropping finished rows) without touching the model.
namespace BatchVlm.Engine.Generation;

using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Tensors;

public sealed class KvCache : IDisposable
{
    private readonly IBackend _backend;
    private readonly Tensor?[] _keys;   // per layer (B, Cap, Hkv, D)
    private readonly Tensor?[] _values;
    private readonly int[] _lengths;    // positions written per layer

    /// <param name="capacity">positions to preallocate (prompt + new tokens); more grows the buffers</param>
    /// <param name="dtype">storage dtype of keys/values (F32 default; BF16 halves the memory, converting on write)</param>
    public KvCache(IBackend backend, int layers, int batchSize, int capacity, int kvHeads, int headDim, DType dtype = DType.F32)
    {
        ArgumentNullException.ThrowIfNull(backend);
        if (layers < 1 || batchSize < 1 || capacity < 1 || kvHeads < 1 || headDim < 1)
            throw new ArgumentException(
                $"KvCache needs positive sizes: layers {layers}, batch {batchSize}, capacity {capacity}, kv heads {kvHeads}, head dim {headDim}");
        _backend = backend;
        _keys = new Tensor?[layers];
        _values = new Tensor?[layers];
        _lengths = new int[layers];
        BatchSize = batchSize;
        Capacity = capacity;
        KvHeads = kvHeads;
        HeadDim = headDim;
        DType = dtype;
    }

    public int Layers => _keys.Length;
    public int BatchSize { get; private set; }
    public int Capacity { get; private set; }
    public int KvHeads { get; }
    public int HeadDim { get; }
    public DType DType { get; }

    /// <summary>Positions stored (after every layer of the last forward has appended).</summary>
    public int Length => _lengths[^1];

    /// <summary>Bytes held by the buffers.</summary>
    public long Bytes => _keys.Concat(_values).Where(t => t is not null).Sum(t => t!.Storage.ByteLength);

    /// <summary>Writes k, v (B, T, Hkv, D) after the positions already stored in <paramref name="layer"/> and returns
    /// views of all of them, (B, L + T, Hkv, D).</summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        if ((uint)layer >= (uint)_keys.Length) throw new ArgumentOutOfRangeException(nameof(layer), $"layer {layer} of a {Layers}-layer cache");
        if (k.Rank != 4 || k.Dim(0) != BatchSize || k.Dim(2) != KvHeads || k.Dim(3) != HeadDim
            || !k.Shape.SequenceEqual(v.Shape))
            throw new ArgumentException(
                $"KvCache.Append: k {Tensor.ShapeString(k.Shape)} / v {Tensor.ShapeString(v.Shape)} must both be (B={BatchSize}, T, Hkv={KvHeads}, D={HeadDim})");
        int t = k.Dim(1), at = _lengths[layer];
        if (at + t > Capacity) Grow(Math.Max(at + t, Capacity * 2));
        _keys[layer] ??= _backend.Zeros([BatchSize, Capacity, KvHeads, HeadDim], DType);
        _values[layer] ??= _backend.Zeros([BatchSize, Capacity, KvHeads, HeadDim], DType);
        using (var slot = _keys[layer]!.Narrow(1, at, t)) _backend.CopyInto(slot, k);
        using (var slot = _values[layer]!.Narrow(1, at, t)) _backend.CopyInto(slot, v);
        _lengths[layer] = at + t;
        return (_keys[layer]!.Narrow(1, 0, at + t), _values[layer]!.Narrow(1, 0, at + t));
    }

    /// <summary>Forgets every position from <paramref name="length"/> on (reuse of a cached prompt, benchmarks that
    /// replay the same decode steps). The buffers are kept.</summary>
    public void Truncate(int length)
    {
        if (length < 0 || length > Length)
            throw new ArgumentOutOfRangeException(nameof(length), $"cannot truncate a cache of {Length} positions to {length}");
        for (int l = 0; l < Layers; l++) _lengths[l] = Math.Min(_lengths[l], length);
    }

    /// <summary>New row i = old row <paramref name="sourceRows"/>[i] (repeats allowed); copies only the stored positions.</summary>
    public void SelectRows(ReadOnlySpan<int> sourceRows)
    {
        foreach (var r in sourceRows)
            if ((uint)r >= (uint)BatchSize)
                throw new ArgumentOutOfRangeException(nameof(sourceRows), $"row {r} of a cache holding {BatchSize} rows");
        bool identity = sourceRows.Length == BatchSize;
        for (int i = 0; identity && i < sourceRows.Length; i++) identity = sourceRows[i] == i;
        if (identity) return;
        var rows = sourceRows.ToArray();
        for (int l = 0; l < Layers; l++)
        {
            _keys[l] = Gather(_keys[l], rows, _lengths[l], Capacity);
            _values[l] = Gather(_values[l], rows, _lengths[l], Capacity);
        }
        BatchSize = rows.Length;
    }

    private void Grow(int capacity)
    {
        var identity = Enumerable.Range(0, BatchSize).ToArray();
        for (int l = 0; l < Layers; l++)
        {
            _keys[l] = Gather(_keys[l], identity, _lengths[l], capacity);
            _values[l] = Gather(_values[l], identity, _lengths[l], capacity);
        }
        Capacity = capacity;
    }

    private Tensor? Gather(Tensor? old, int[] rows, int length, int capacity)
    {
        if (old is null) return null;
        var fresh = _backend.Zeros([rows.Length, capacity, KvHeads, HeadDim], DType);
        if (length > 0)
            for (int i = 0; i < rows.Length; i++)
            {
                using var dstRow = fresh.Select(0, i);
                using var srcRow = old.Select(0, rows[i]);
                using var dst = dstRow.Narrow(0, 0, length);
                using var src = srcRow.Narrow(0, 0, length);
                _backend.CopyInto(dst, src);
            }
        old.Dispose();
        return fresh;
    }

    public void Dispose()
    {
        for (int l = 0; l < Layers; l++)
        {
            _keys[l]?.Dispose();
            _values[l]?.Dispose();
            _keys[l] = _values[l] = null;
        }
    }
}
