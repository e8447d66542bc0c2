// CpuBackend: Linear and MatMul on the packed GEMM (Gemm.cs), plus a matrix-vector path for few rows (decode:
// M ≤ 8 rows stream the weights once at memory speed instead of packing them). Scalar twins: ScalarOps.Linear/MatMul.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Backends.Cpu;

public sealed unsafe partial class CpuBackend
{
    /// <summary>Rows at or below this use the streaming matrix-vector kernel instead of the packed GEMM.</summary>
    public const int GemvMaxRows = 8;

    public override Tensor Linear(Tensor x, Tensor weight, Tensor? bias)
    {
        using var prof_ = Prof("Linear");
        int k = x.Dim(-1);
        if (weight.Rank != 2 || weight.Dim(1) != k)
            throw new ArgumentException($"Linear: input {Tensor.ShapeString(x.Shape)} needs a weight (N, {k}), got {Tensor.ShapeString(weight.Shape)}");
        int n = weight.Dim(0);
        if (bias is not null && (bias.Rank != 1 || bias.Dim(0) != n))
            throw new ArgumentException($"Linear: bias {Tensor.ShapeString(bias.Shape)} does not match weight {Tensor.ShapeString(weight.Shape)}");
        if (!weight.DType.IsFloat() || x.DType != DType.F32)
            throw new ArgumentException($"Linear: needs f32 input and a float weight, got {x} and {weight}");
        using var xc = RowsView(x, out long lda);
        using var wc = weight.Stride(1) == 1 ? null : weight.Contiguous();
        var w = wc ?? weight;
        using var bc = bias is null || bias.IsContiguous && bias.DType == DType.F32 ? null : bias.Contiguous().To(DType.F32);
        var b = bc ?? bias;
        var shape = (int[])x.ShapeArray.Clone();
        shape[^1] = n;
        var y = Empty(shape);
        int rows = (int)(x.ElementCount / Math.Max(1, k));
        float* yp = F32(y);
        float* bp = b is null ? null : F32(b);
        if (rows <= GemvMaxRows)
        {
            Gemv(rows, n, k, (float*)Ptr(xc), lda, Ptr(w), w.DType, w.Stride(0), bp, yp);
            return y;
        }
        if (bp != null)
            for (int r = 0; r < rows; r++) Buffer.MemoryCopy(bp, yp + (long)r * n, n * 4L, n * 4L);
        Gemm.Run(rows, n, k,
            new Gemm.Operand(Ptr(xc), DType.F32, lda, 1),
            new Gemm.Operand(Ptr(w), w.DType, 1, w.Stride(0)),
            yp, n, accumulate: bp != null, Threads);
        return y;
    }

    /// <summary>x (..., K) as a (rows, K) matrix with unit column stride: a view when the strides allow, else a copy.</summary>
    private static Tensor RowsView(Tensor x, out long lda)
    {
        int k = x.Dim(-1);
        if (x.IsContiguous)
        {
            lda = k;
            return x.Reshape(-1, k);
        }
        if (x.Stride(-1) == 1)
        {
            // leading dims must collapse into one stride
            bool ok = true;
            for (int d = x.Rank - 2; d > 0; d--)
                if (x.ShapeArray[d - 1] != 1 && x.StrideArray[d - 1] != x.StrideArray[d] * x.ShapeArray[d]) ok = false;
            if (ok && x.Rank >= 2)
            {
                lda = x.Stride(-2);
                return x.Reshape(-1, k);
            }
        }
        var c = x.Contiguous();
        lda = k;
        using (c) return c.Reshape(-1, k);
    }

    public override Tensor MatMul(Tensor a, Tensor b)
    {
        using var prof_ = Prof("MatMul");
        if (a.Rank < 2 || b.Rank < 2) throw new ArgumentException($"MatMul needs rank ≥ 2: {a} @ {b}");
        int m = a.Dim(-2), k = a.Dim(-1), n = b.Dim(-1);
        if (b.Dim(-2) != k)
            throw new ArgumentException($"MatMul: inner dims differ: {Tensor.ShapeString(a.Shape)} @ {Tensor.ShapeString(b.Shape)}");
        if (a.DType != DType.F32 || !b.DType.IsFloat())
            throw new ArgumentException($"MatMul: needs f32 @ float, got {a} @ {b}");
        var batch = ScalarOps.BroadcastShape(a.ShapeArray[..^2], b.ShapeArray[..^2], "MatMul");
        using var ae = a.Expand([.. batch, m, k]);
        using var be = b.Expand([.. batch, k, n]);
        var y = Empty([.. batch, m, n]);
        long nb = Count(batch);
        float* yp = F32(y);
        byte* a0 = Ptr(ae), b0 = Ptr(be);
        int asz = ae.DType.SizeOf(), bsz = be.DType.SizeOf();
        var aStr = ae.StrideArray; var bStr = be.StrideArray;
        int inner = nb >= Threads ? 1 : Threads;
        CpuParallel.Range(nb, nb >= Threads ? Threads : 1, (s, e) =>
        {
            var idx = new int[batch.Length];
            for (long bi = s; bi < e; bi++)
            {
                long rem = bi, ao = 0, bo = 0;
                for (int d = batch.Length - 1; d >= 0; d--)
                {
                    int i = (int)(rem % batch[d]);
                    rem /= batch[d];
                    ao += i * aStr[d];
                    bo += i * bStr[d];
                }
                Gemm.Run(m, n, k,
                    new Gemm.Operand(a0 + ao * asz, DType.F32, aStr[^2], aStr[^1]),
                    new Gemm.Operand(b0 + bo * bsz, be.DType, bStr[^2], bStr[^1]),
                    yp + bi * m * n, n, accumulate: false, inner);
            }
        });
        return y;
    }

    /// <summary>y[r, :] = W·x[r, :] + bias for r &lt; rows ≤ 8: one pass over W (f32/bf16/f16), split over threads by
    /// output; four weight rows are streamed at once (more loads in flight), and stay in L1 while each x row uses them.</summary>
    private void Gemv(int rows, int n, int k, float* x, long lda, byte* w, DType wType, long ldw, float* bias, float* y)
    {
        CpuParallel.Range((n + 3) / 4, Threads, (s, e) =>
        {
            for (long q = s; q < e; q++)
            {
                long j = q * 4;
                if (j + 4 <= n && wType != DType.F16 && Vector512.IsHardwareAccelerated)
                {
                    for (int r = 0; r < rows; r++)
                    {
                        var d = Dot4(x + r * lda, w, wType, j * ldw, ldw, k);
                        for (int u = 0; u < 4; u++) y[r * n + j + u] = d[u] + (bias == null ? 0f : bias[j + u]);
                    }
                    continue;
                }
                for (long jj = j; jj < Math.Min(n, j + 4); jj++)
                    for (int r = 0; r < rows; r++)
                        y[r * n + jj] = Dot(x + r * lda, w, wType, jj * ldw, k) + (bias == null ? 0f : bias[jj]);
            }
        }, minPerThread: 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Dot4(float* x, byte* w, DType wType, long off, long ldw, int k)
    {
        var a0 = Vector512<float>.Zero; var a1 = Vector512<float>.Zero;
        var a2 = Vector512<float>.Zero; var a3 = Vector512<float>.Zero;
        int p = 0;
        if (wType == DType.F32)
        {
            float* w0 = (float*)w + off, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw;
            for (; p + 16 <= k; p += 16)
            {
                var xv = Vector512.Load(x + p);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(w0 + p), xv, a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(w1 + p), xv, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Load(w2 + p), xv, a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Load(w3 + p), xv, a3);
            }
            var r = Vector128.Create(Vector512.Sum(a0), Vector512.Sum(a1), Vector512.Sum(a2), Vector512.Sum(a3));
            for (; p < k; p++)
                r += Vector128.Create(w0[p], w1[p], w2[p], w3[p]) * x[p];
            return r;
        }
        else
        {
            ushort* w0 = (ushort*)w + off, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw;
            for (; p + 16 <= k; p += 16)
            {
                var xv = Vector512.Load(x + p);
                a0 = Vector512.FusedMultiplyAdd(Bf16x16(w0 + p), xv, a0);
                a1 = Vector512.FusedMultiplyAdd(Bf16x16(w1 + p), xv, a1);
                a2 = Vector512.FusedMultiplyAdd(Bf16x16(w2 + p), xv, a2);
                a3 = Vector512.FusedMultiplyAdd(Bf16x16(w3 + p), xv, a3);
            }
            var r = Vector128.Create(Vector512.Sum(a0), Vector512.Sum(a1), Vector512.Sum(a2), Vector512.Sum(a3));
            for (; p < k; p++)
                r += Vector128.Create(DTypes.BF16ToFloat(w0[p]), DTypes.BF16ToFloat(w1[p]), DTypes.BF16ToFloat(w2[p]), DTypes.BF16ToFloat(w3[p])) * x[p];
            return r;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Bf16x16(ushort* p) =>
        Vector512.ShiftLeft(Vector512.WidenLower(Vector256.Load(p).ToVector512()).AsUInt32(), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(float* x, byte* w, DType wType, long wOff, int k)
    {
        float s = 0;
        if (wType == DType.F32)
        {
            float* wr = (float*)w + wOff;
            int p = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                var acc = Vector256<float>.Zero;
                for (; p + 8 <= k; p += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(wr + p), Vector256.Load(x + p), acc);
                s = Vector256.Sum(acc);
            }
            for (; p < k; p++) s += wr[p] * x[p];
            return s;
        }
        ushort* wh = (ushort*)w + wOff;
        for (int p = 0; p < k; p++) s += (wType == DType.BF16 ? DTypes.BF16ToFloat(wh[p]) : DTypes.F16ToFloat(wh[p])) * x[p];
        return s;
    }
}
