// What both CPU backends share: memory (allocation, wrapping mapped weights, strided copies with dtype
// conversion) and the plain scalar implementation of every op. ReferenceBackend is exactly these scalar ops;
// CpuBackend overrides them with SIMD, multi-threaded kernels, and its tests compare the two (llm.c's habit of
// keeping the naive kernel beside the fast one). The scalar ops are written for clarity: densify the inputs to
// float[] in logical order, loop, wrap the result.
using System.Runtime.CompilerServices;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Backends.Cpu;

public abstract unsafe class CpuBackendBase : IBackend
{
    public abstract string Name { get; }

    public virtual bool Supports(Op op, DType dtype) => op switch
    {
        Op.Linear or Op.Embedding => dtype.IsFloat(),
        Op.Contiguous or Op.CopyInto or Op.Concat or Op.Cast => true,
        Op.Argmax or Op.TopK or Op.Sum => dtype.IsFloat(),
        _ => dtype == DType.F32,
    };

    // =====================================================================================  memory

    public Tensor Zeros(int[] shape, DType dtype = DType.F32) =>
        new(CpuStorage.Allocate(this, dtype, Count(shape), zero: true), (int[])shape.Clone());

    /// <summary>An uninitialised contiguous tensor (every kernel writes all of its output).</summary>
    public Tensor Empty(int[] shape, DType dtype = DType.F32) =>
        new(CpuStorage.Allocate(this, dtype, Count(shape), zero: false), (int[])shape.Clone());

    public Tensor FromFloats(ReadOnlySpan<float> data, params int[] shape)
    {
        if (data.Length != Count(shape))
            throw new ArgumentException($"FromFloats: {data.Length} values for shape {Tensor.ShapeString(shape)} ({Count(shape)} elements)");
        var t = Empty(shape);
        data.CopyTo(new Span<float>(F32(t), data.Length));
        return t;
    }

    public Tensor FromInt64(ReadOnlySpan<long> data, params int[] shape)
    {
        if (data.Length != Count(shape))
            throw new ArgumentException($"FromInt64: {data.Length} values for shape {Tensor.ShapeString(shape)} ({Count(shape)} elements)");
        var t = Empty(shape, DType.I64);
        data.CopyTo(new Span<long>(Ptr(t), data.Length));
        return t;
    }

    public Tensor FromBytes(ReadOnlyMemory<byte> bytes, DType dtype, int[] shape)
    {
        long n = Count(shape);
        if (bytes.Length != n * dtype.SizeOf())
            throw new ArgumentException($"FromBytes: {bytes.Length} bytes for {dtype} {Tensor.ShapeString(shape)} (expected {n * dtype.SizeOf()})");
        return new Tensor(CpuStorage.Wrap(this, dtype, bytes), (int[])shape.Clone());
    }

    public Tensor FromNative(byte* data, long byteLength, DType dtype, int[] shape, object? owner)
    {
        long n = Count(shape);
        if (byteLength != n * dtype.SizeOf())
            throw new ArgumentException($"FromNative: {byteLength} bytes for {dtype} {Tensor.ShapeString(shape)} (expected {n * dtype.SizeOf()})");
        return new Tensor(CpuStorage.WrapNative(this, dtype, n, data, owner), (int[])shape.Clone());
    }

    public void Read(Tensor x, Span<float> destination)
    {
        CheckLength(x, destination.Length);
        fixed (float* d = destination)
            StridedCopy(x, (byte*)d, DType.F32, Tensor.ContiguousStrides(x.ShapeArray));
    }

    public void Read(Tensor x, Span<long> destination)
    {
        CheckLength(x, destination.Length);
        fixed (long* d = destination)
            StridedCopy(x, (byte*)d, DType.I64, Tensor.ContiguousStrides(x.ShapeArray));
    }

    public Tensor Contiguous(Tensor x)
    {
        var r = Empty(x.ShapeArray, x.DType);
        StridedCopy(x, Ptr(r), r.DType, r.StrideArray);
        return r;
    }

    public void CopyInto(Tensor destination, Tensor source)
    {
        if (!destination.ShapeArray.AsSpan().SequenceEqual(source.ShapeArray))
            throw new ArgumentException($"CopyInto: destination {Tensor.ShapeString(destination.Shape)} and source {Tensor.ShapeString(source.Shape)} differ");
        StridedCopy(source, Ptr(destination), destination.DType, destination.StrideArray);
    }

    public Tensor Concat(IReadOnlyList<Tensor> parts, int dim)
    {
        if (parts.Count == 0) throw new ArgumentException("Concat of zero tensors");
        var first = parts[0];
        int axis = first.Axis(dim);
        var shape = (int[])first.ShapeArray.Clone();
        shape[axis] = 0;
        foreach (var p in parts)
        {
            if (p.Rank != first.Rank || p.DType != first.DType)
                throw new ArgumentException($"Concat: {p} does not match {first}");
            for (int i = 0; i < p.Rank; i++)
                if (i != axis && p.ShapeArray[i] != first.ShapeArray[i])
                    throw new ArgumentException($"Concat along {axis}: shapes {Tensor.ShapeString(first.Shape)} and {Tensor.ShapeString(p.Shape)} differ in dim {i}");
            shape[axis] += p.ShapeArray[axis];
        }
        var r = Empty(shape, first.DType);
        int at = 0;
        foreach (var p in parts)
        {
            using var slot = r.Narrow(axis, at, p.ShapeArray[axis]);
            StridedCopy(p, Ptr(slot), r.DType, slot.StrideArray);
            at += p.ShapeArray[axis];
        }
        return r;
    }

    public Tensor Cast(Tensor x, DType dtype)
    {
        var r = Empty(x.ShapeArray, dtype);
        StridedCopy(x, Ptr(r), dtype, r.StrideArray);
        return r;
    }

    // =====================================================================================  ops (scalar)

    public virtual Tensor MatMul(Tensor a, Tensor b) => ScalarOps.MatMul(this, a, b);
    public virtual Tensor Linear(Tensor x, Tensor weight, Tensor? bias) => ScalarOps.Linear(this, x, weight, bias);
    public virtual Tensor Add(Tensor a, Tensor b) => ScalarOps.Binary(this, a, b, static (p, q) => p + q, "Add");
    public virtual Tensor Mul(Tensor a, Tensor b) => ScalarOps.Binary(this, a, b, static (p, q) => p * q, "Mul");
    public virtual Tensor Affine(Tensor x, float scale, float shift) => ScalarOps.Map(this, x, v => v * scale + shift);
    public virtual Tensor Activate(Tensor x, Activation activation) => ScalarOps.Activate(this, x, activation);
    public virtual Tensor LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float eps) => ScalarOps.LayerNorm(this, x, weight, bias, eps);
    public virtual Tensor RmsNorm(Tensor x, Tensor? weight, float eps) => ScalarOps.RmsNorm(this, x, weight, eps);
    public virtual Tensor L2Normalize(Tensor x, float eps) => ScalarOps.L2Normalize(this, x, eps);
    public virtual Tensor Softmax(Tensor x, float scale, bool log, Tensor? mask = null) => ScalarOps.Softmax(this, x, scale, log, mask);
    public virtual Tensor Sum(Tensor x, int dim) => ScalarOps.Sum(this, x, dim);
    public virtual Tensor Attention(Tensor q, Tensor k, Tensor v, AttentionMask mask, float scale) => ScalarOps.Attention(this, q, k, v, mask, scale);
    public virtual Tensor Rope(Tensor x, Tensor cos, Tensor sin) => ScalarOps.Rope(this, x, cos, sin);
    public virtual Tensor Embedding(Tensor ids, Tensor table) => ScalarOps.Embedding(this, ids, table);
    public virtual Tensor PatchEmbed(Tensor pixels, Tensor weight, Tensor? bias) => ScalarOps.PatchEmbed(this, pixels, weight, bias);
    public virtual Tensor Argmax(Tensor x) => ScalarOps.Argmax(this, x);
    public virtual (Tensor Values, Tensor Indices) TopK(Tensor x, int k) => ScalarOps.TopK(this, x, k);

    // =====================================================================================  helpers

    internal static long Count(IReadOnlyList<int> shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in {Tensor.ShapeString(shape)}");
            n *= d;
        }
        return n;
    }

    internal static CpuStorage Cpu(Tensor t) => t.Storage as CpuStorage
        ?? throw new ArgumentException($"{t} lives on backend '{t.Backend.Name}', not on a CPU backend");

    /// <summary>Address of element [0, ...] of <paramref name="t"/>.</summary>
    internal static byte* Ptr(Tensor t) => Cpu(t).Pointer + t.Offset * t.DType.SizeOf();

    internal static float* F32(Tensor t)
    {
        if (t.DType != DType.F32) throw new ArgumentException($"expected an F32 tensor, got {t}");
        return (float*)Ptr(t);
    }

    private static void CheckLength(Tensor x, int length)
    {
        if (length != x.ElementCount)
            throw new ArgumentException($"Read: destination holds {length} elements, {x} has {x.ElementCount}");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float LoadAsFloat(byte* p, DType dt) => dt switch
    {
        DType.F32 => *(float*)p,
        DType.BF16 => DTypes.BF16ToFloat(*(ushort*)p),
        DType.F16 => DTypes.F16ToFloat(*(ushort*)p),
        DType.I64 => *(long*)p,
        DType.I32 => *(int*)p,
        _ => throw new ArgumentOutOfRangeException(nameof(dt)),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long LoadAsLong(byte* p, DType dt) => dt switch
    {
        DType.I64 => *(long*)p,
        DType.I32 => *(int*)p,
        _ => (long)LoadAsFloat(p, dt),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(byte* dst, DType ddt, byte* src, DType sdt)
    {
        switch (ddt)
        {
            case DType.F32: *(float*)dst = LoadAsFloat(src, sdt); break;
            case DType.BF16: *(ushort*)dst = DTypes.FloatToBF16(LoadAsFloat(src, sdt)); break;
            case DType.F16: *(ushort*)dst = DTypes.FloatToF16(LoadAsFloat(src, sdt)); break;
            case DType.I64: *(long*)dst = LoadAsLong(src, sdt); break;
            case DType.I32: *(int*)dst = (int)LoadAsLong(src, sdt); break;
        }
    }

    /// <summary>Copies the view <paramref name="src"/> element by element into memory at <paramref name="dst"/>
    /// laid out with <paramref name="dstStrides"/> (same shape), converting the dtype.</summary>
    internal static void StridedCopy(Tensor src, byte* dst, DType dstType, long[] dstStrides)
    {
        if (src.ElementCount == 0) return;
        var shape = src.ShapeArray;
        var sStrides = src.StrideArray;
        byte* s0 = Ptr(src);
        int ss = src.DType.SizeOf(), ds = dstType.SizeOf();
        int rank = shape.Length;
        if (rank == 0)
        {
            Store(dst, dstType, s0, src.DType);
            return;
        }
        int inner = shape[rank - 1];
        long sInner = sStrides[rank - 1] * ss, dInner = dstStrides[rank - 1] * ds;
        bool memcpy = src.DType == dstType && sInner == ss && dInner == ds;
        long outer = src.ElementCount / Math.Max(1, inner);
        var idx = new int[rank];
        for (long o = 0; o < outer; o++)
        {
            long so = 0, dof = 0;
            for (int d = 0; d < rank - 1; d++)
            {
                so += idx[d] * sStrides[d];
                dof += idx[d] * dstStrides[d];
            }
            byte* sp = s0 + so * ss;
            byte* dp = dst + dof * ds;
            if (memcpy) Buffer.MemoryCopy(sp, dp, (long)inner * ds, (long)inner * ds);
            else if (src.DType == DType.F32 && dstType == DType.F32)
                for (int i = 0; i < inner; i++) *(float*)(dp + i * dInner) = *(float*)(sp + i * sInner);
            else
                for (int i = 0; i < inner; i++) Store(dp + i * dInner, dstType, sp + i * sInner, src.DType);
            for (int d = rank - 2; d >= 0; d--)
            {
                if (++idx[d] < shape[d]) break;
                idx[d] = 0;
            }
        }
    }
}
