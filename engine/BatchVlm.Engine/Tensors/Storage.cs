// The memory behind one or more tensors (a tensor is a strided view of a storage). A storage belongs to the
// backend that made it; CPU storages are native or pinned memory (own allocation or memory-mapped weights),
// device storages (issue 8) hold device pointers. Views share the storage and keep it alive; it is released
// when its last tensor is disposed, or by the finalizer when none is reachable.
namespace BatchVlm.Engine.Tensors;

using BatchVlm.Engine.Backends;

public abstract class Storage
{
    private int _refs;
    private int _released;

    protected Storage(IBackend backend, DType dtype, long elementCount)
    {
        Backend = backend;
        DType = dtype;
        ElementCount = elementCount;
    }

    public IBackend Backend { get; }
    public DType DType { get; }
    public long ElementCount { get; }
    public long ByteLength => ElementCount * DType.SizeOf();
    public bool IsReleased => Volatile.Read(ref _released) != 0;

    internal void AddRef() => Interlocked.Increment(ref _refs);

    internal void RemoveRef()
    {
        if (Interlocked.Decrement(ref _refs) == 0)
            ReleaseOnce();
    }

    protected void ReleaseOnce()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            Release();
            GC.SuppressFinalize(this);
        }
    }

    /// <summary>Frees or returns the memory. Called once, from Dispose of the last tensor or from the finalizer.</summary>
    protected abstract void Release();

    ~Storage()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
            Release();
    }
}
