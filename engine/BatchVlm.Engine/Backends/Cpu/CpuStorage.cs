// CPU storage: a raw pointer to either memory we allocated (64-byte aligned, from CpuMemoryPool) or memory we
// wrap without copying (a memory-mapped safetensors region, a pinned managed array). Kernels take the pointer.
using System.Buffers;
using System.Runtime.InteropServices;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Backends.Cpu;

public sealed unsafe class CpuStorage : Storage
{
    private readonly MemoryHandle _pin;
    private readonly bool _pooled;
    // Keeps a wrapped region's owner (e.g. the memory-mapped file's MemoryManager) reachable.
    private readonly object? _owner;

    private CpuStorage(IBackend backend, DType dtype, long elements, byte* pointer, bool pooled, MemoryHandle pin, object? owner)
        : base(backend, dtype, elements)
    {
        Pointer = pointer;
        _pooled = pooled;
        _pin = pin;
        _owner = owner;
    }

    public byte* Pointer { get; }

    internal static CpuStorage Allocate(IBackend backend, DType dtype, long elements, bool zero)
    {
        long bytes = Math.Max(1, elements * dtype.SizeOf());
        var p = CpuMemoryPool.Rent(bytes);
        if (zero) NativeMemory.Clear(p, (nuint)bytes);
        return new CpuStorage(backend, dtype, elements, p, pooled: true, default, null);
    }

    internal static CpuStorage Wrap(IBackend backend, DType dtype, ReadOnlyMemory<byte> bytes)
    {
        long elements = bytes.Length / dtype.SizeOf();
        var pin = bytes.Pin();
        MemoryMarshal.TryGetMemoryManager<byte, MemoryManager<byte>>(bytes, out var manager);
        return new CpuStorage(backend, dtype, elements, (byte*)pin.Pointer, pooled: false, pin, (object?)manager);
    }

    internal static CpuStorage WrapNative(IBackend backend, DType dtype, long elements, byte* pointer, object? owner) =>
        new(backend, dtype, elements, pointer, pooled: false, default, owner);

    protected override void Release()
    {
        if (_pooled) CpuMemoryPool.Return(Pointer, Math.Max(1, ByteLength));
        else _pin.Dispose();
        GC.KeepAlive(_owner);
    }
}

/// <summary>
/// Aligned native buffers, recycled by exact byte size: a transformer allocates the same activation sizes every
/// layer, so after the first layer allocation is a dictionary lookup instead of an mmap + page faults.
/// Memory kept for reuse is capped (<see cref="MaxCachedBytes"/>); above that, buffers are freed.
/// </summary>
public static unsafe class CpuMemoryPool
{
    private static readonly Dictionary<long, Stack<IntPtr>> Free = new();
    private static readonly Lock Gate = new();
    private static long _cached;

    /// <summary>Default 1 GiB; set BATCHVLM_CPU_POOL_MB to change.</summary>
    public static long MaxCachedBytes { get; set; } =
        long.TryParse(Environment.GetEnvironmentVariable("BATCHVLM_CPU_POOL_MB"), out var mb) ? mb << 20 : 1L << 30;

    public static long CachedBytes => Interlocked.Read(ref _cached);

    internal static byte* Rent(long bytes)
    {
        lock (Gate)
        {
            if (Free.TryGetValue(bytes, out var stack) && stack.Count > 0)
            {
                _cached -= bytes;
                return (byte*)stack.Pop();
            }
        }
        GC.AddMemoryPressure(bytes);
        return (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
    }

    internal static void Return(byte* p, long bytes)
    {
        lock (Gate)
        {
            if (_cached + bytes <= MaxCachedBytes)
            {
                if (!Free.TryGetValue(bytes, out var stack)) Free[bytes] = stack = new Stack<IntPtr>();
                stack.Push((IntPtr)p);
                _cached += bytes;
                return;
            }
        }
        NativeMemory.AlignedFree(p);
        GC.RemoveMemoryPressure(bytes);
    }

    /// <summary>Frees every cached buffer.</summary>
    public static void Trim()
    {
        lock (Gate)
        {
            foreach (var (bytes, stack) in Free)
                while (stack.Count > 0)
                {
                    NativeMemory.AlignedFree((void*)stack.Pop());
                    GC.RemoveMemoryPressure(bytes);
                }
            Free.Clear();
            _cached = 0;
        }
    }
}
