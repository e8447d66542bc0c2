// CpuBackend: the fast twins of the elementwise, normalisation, softmax, attention, RoPE, embedding and patch
// ops. Row-wise ops are split over threads by rows; vector math goes through TensorPrimitives (AVX-512/AVX2)
// on L1-sized chunks. Non-contiguous inputs are first made contiguous. Scalar twins: ScalarOps.
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using BatchVlm.Engine.Tensors;
using Tensor = BatchVlm.Engine.Tensors.Tensor;

namespace BatchVlm.Engine.Backends.Cpu;

public sealed unsafe partial class CpuBackend
{
    private const int Chunk = 2048;
    [ThreadStatic] private static float[]? _scratch;

    private static Span<float> Scratch(int n)
    {
        if (_scratch is null || _scratch.Length < n) _scratch = GC.AllocateUninitializedArray<float>(Math.Max(n, Chunk), pinned: true);
        return _scratch.AsSpan(0, n);
    }

    private static Tensor Dense32(Tensor x)
    {
        if (x.DType == DType.F32 && x.IsContiguous) return x.Contiguous(); // shares storage (new view)
        if (x.DType == DType.F32) return x.Backend.Contiguous(x);
        return x.Backend.Cast(x, DType.F32);
    }

    /// <summary>Runs body(start, count) over [0, n) split into thread ranges, for elementwise work on n floats.</summary>
    private void Elementwise(long n, Action<long, long> body) =>
        CpuParallel.Range(n, Threads, (s, e) => body(s, e - s), minPerThread: 1 << 15);

    // ---------------------------------------------------------------- elementwise

    public override Tensor Add(Tensor a, Tensor b) => Binary(a, b, add: true);
    public override Tensor Mul(Tensor a, Tensor b) => Binary(a, b, add: false);

    private Tensor Binary(Tensor a, Tensor b, bool add)
    {
        using var prof_ = Prof(add ? "Add" : "Mul");
        var shape = ScalarOps.BroadcastShape(a.Shape, b.Shape, add ? "Add" : "Mul");
        // fast when one operand has the output shape and the other is a suffix of it (bias-like) or the same
        bool aFull = a.ShapeArray.AsSpan().SequenceEqual(shape), bFull = b.ShapeArray.AsSpan().SequenceEqual(shape);
        if (!aFull && !bFull)
            return add ? base.Add(a, b) : base.Mul(a, b);
        var (full, other) = aFull ? (a, b) : (b, a);
        // other's shape must equal the trailing dims of the output (after dropping its leading 1s)
        int lead = 0;
        while (lead < other.Rank && other.ShapeArray[lead] == 1) lead++;
        var tail = other.ShapeArray[lead..];
        if (!shape.AsSpan(shape.Length - tail.Length).SequenceEqual(tail))
            return add ? base.Add(a, b) : base.Mul(a, b);
        using var fc = Dense32(full);
        using var oc = Dense32(other);
        var y = Empty(shape);
        float* fp = F32(fc), op = F32(oc), yp = F32(y);
        long n = y.ElementCount, period = Math.Max(1, oc.ElementCount);
        Elementwise(n, (s, cnt) =>
        {
            long i = s, end = s + cnt;
            while (i < end)
            {
                long o = i % period;
                int len = (int)Math.Min(end - i, period - o);
                var src = new ReadOnlySpan<float>(fp + i, len);
                var oth = new ReadOnlySpan<float>(op + o, len);
                var dst = new Span<float>(yp + i, len);
                if (add) TensorPrimitives.Add(src, oth, dst); else TensorPrimitives.Multiply(src, oth, dst);
                i += len;
            }
        });
        return y;
    }

    public override Tensor Affine(Tensor x, float scale, float shift)
    {
        using var prof_ = Prof("Affine");
        using var xc = Dense32(x);
        var y = Empty(x.ShapeArray);
        float* xp = F32(xc), yp = F32(y);
        Elementwise(y.ElementCount, (s, n) =>
        {
            var src = new ReadOnlySpan<float>(xp + s, (int)n);
            var dst = new Span<float>(yp + s, (int)n);
            TensorPrimitives.Multiply(src, scale, dst);
            if (shift != 0f) TensorPrimitives.Add(dst, shift, dst);
        });
        return y;
    }

    public override Tensor Activate(Tensor x, Activation activation)
    {
        using var prof_ = Prof("Activate");
        using var xc = Dense32(x);
        var y = Empty(x.ShapeArray);
        float* xp = F32(xc), yp = F32(y);
        Elementwise(y.ElementCount, (s, n) =>
        {
            for (long c = 0; c < n; c += Chunk)
            {
                int len = (int)Math.Min(Chunk, n - c);
                ActivateChunk(activation, new ReadOnlySpan<float>(xp + s + c, len), new Span<float>(yp + s + c, len));
            }
        });
        return y;
    }

    private static void ActivateChunk(Activation act, ReadOnlySpan<float> x, Span<float> y)
    {
        var t = Scratch(x.Length);
        switch (act)
        {
            case Activation.GeluTanh:
                // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
                TensorPrimitives.Multiply(x, x, t);
                TensorPrimitives.Multiply(t, 0.044715f, t);
                TensorPrimitives.Add(t, 1f, t);
                TensorPrimitives.Multiply(t, x, t);
                TensorPrimitives.Multiply(t, 0.7978845608028654f, t);
                TensorPrimitives.Tanh(t, t);
                TensorPrimitives.AddMultiply(t, 1f, x, t);
                TensorPrimitives.Multiply(t, 0.5f, y);
                break;
            case Activation.GeluErf:
                GeluErf(x, y);
                break;
            case Activation.QuickGelu:
                TensorPrimitives.Multiply(x, 1.702f, t);
                TensorPrimitives.Sigmoid(t, t);
                TensorPrimitives.Multiply(t, x, y);
                break;
            case Activation.Silu:
                TensorPrimitives.Sigmoid(x, t);
                TensorPrimitives.Multiply(t, x, y);
                break;
            case Activation.Relu:
                TensorPrimitives.Max(x, 0f, y);
                break;
            case Activation.Sigmoid:
                TensorPrimitives.Sigmoid(x, y);
                break;
            case Activation.Tanh:
                TensorPrimitives.Tanh(x, y);
                break;
            case Activation.Exp:
                TensorPrimitives.Exp(x, y);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(act), act, "unknown activation");
        }
    }

    // erf by the rational approximation Eigen/XLA use for float (|error| ≲ 2 ulp on [-4, 4]; ±1 beyond).
    private static void GeluErf(ReadOnlySpan<float> x, Span<float> y)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            fixed (float* xp = x, yp = y)
            {
                for (; i + 8 <= x.Length; i += 8)
                {
                    var v = Vector256.Load(xp + i);
                    var z = Vector256.Min(Vector256.Max(v * 0.70710678118654752f, Vector256.Create(-4f)), Vector256.Create(4f));
                    var z2 = z * z;
                    var p = Vector256.FusedMultiplyAdd(z2, Vector256.Create(-2.72614225801306e-10f), Vector256.Create(2.77068142495902e-08f));
                    p = Vector256.FusedMultiplyAdd(z2, p, Vector256.Create(-2.10102402082508e-06f));
                    p = Vector256.FusedMultiplyAdd(z2, p, Vector256.Create(-5.69250639462346e-05f));
                    p = Vector256.FusedMultiplyAdd(z2, p, Vector256.Create(-7.34990630326855e-04f));
                    p = Vector256.FusedMultiplyAdd(z2, p, Vector256.Create(-2.95459980854025e-03f));
                    p = Vector256.FusedMultiplyAdd(z2, p, Vector256.Create(-1.60960333262415e-02f));
                    p *= z;
                    var q = Vector256.FusedMultiplyAdd(z2, Vector256.Create(-1.45660718464996e-05f), Vector256.Create(-2.13374055278905e-04f));
                    q = Vector256.FusedMultiplyAdd(z2, q, Vector256.Create(-1.68282697438203e-03f));
                    q = Vector256.FusedMultiplyAdd(z2, q, Vector256.Create(-7.37332916720468e-03f));
                    q = Vector256.FusedMultiplyAdd(z2, q, Vector256.Create(-1.42647390514189e-02f));
                    var erf = p / q;
                    Vector256.Store(0.5f * v * (Vector256<float>.One + erf), yp + i);
                }
            }
        }
        for (; i < x.Length; i++)
            y[i] = (float)(0.5 * x[i] * (1.0 + ScalarOps.Erf(x[i] / Math.Sqrt(2.0))));
    }

    // ---------------------------------------------------------------- row-wise

    private void Rows(Tensor x, out Tensor xc, out Tensor y, out int rows, out int c)
    {
        c = x.Dim(-1);
        xc = Dense32(x);
        y = Empty(x.ShapeArray);
        rows = (int)(x.ElementCount / Math.Max(1, c));
    }

    private void ForRows(int rows, int c, Action<int> row) =>
        CpuParallel.Range(rows, Threads, (s, e) => { for (long r = s; r < e; r++) row((int)r); }, minPerThread: Math.Max(1, (1 << 14) / Math.Max(1, c)));

    private static Tensor? Vec32(Tensor? t, int c, string what)
    {
        if (t is null) return null;
        if (t.ElementCount != c) throw new ArgumentException($"{what}: expected {c} elements, got {t}");
        return Dense32(t);
    }

    public override Tensor LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float eps)
    {
        using var prof_ = Prof("LayerNorm");
        Rows(x, out var xc, out var y, out int rows, out int c);
        using var _ = xc;
        using var wc = Vec32(weight, c, "LayerNorm weight");
        using var bc = Vec32(bias, c, "LayerNorm bias");
        float* xp = F32(xc), yp = F32(y), wp = wc is null ? null : F32(wc), bp = bc is null ? null : F32(bc);
        ForRows(rows, c, r =>
        {
            var src = new ReadOnlySpan<float>(xp + (long)r * c, c);
            var dst = new Span<float>(yp + (long)r * c, c);
            float mean = TensorPrimitives.Sum(src) / c;
            TensorPrimitives.Subtract(src, mean, dst);
            float var = TensorPrimitives.SumOfSquares(dst) / c;
            float inv = 1f / MathF.Sqrt(var + eps);
            if (wp != null && bp != null)
            {
                TensorPrimitives.Multiply(dst, inv, dst);
                TensorPrimitives.MultiplyAdd(dst, new ReadOnlySpan<float>(wp, c), new ReadOnlySpan<float>(bp, c), dst);
            }
            else
            {
                TensorPrimitives.Multiply(dst, inv, dst);
                if (wp != null) TensorPrimitives.Multiply(dst, new ReadOnlySpan<float>(wp, c), dst);
                if (bp != null) TensorPrimitives.Add(dst, new ReadOnlySpan<float>(bp, c), dst);
            }
        });
        return y;
    }

    public override Tensor RmsNorm(Tensor x, Tensor? weight, float eps)
    {
        using var prof_ = Prof("RmsNorm");
        Rows(x, out var xc, out var y, out int rows, out int c);
        using var _ = xc;
        using var wc = Vec32(weight, c, "RmsNorm weight");
        float* xp = F32(xc), yp = F32(y), wp = wc is null ? null : F32(wc);
        ForRows(rows, c, r =>
        {
            var src = new ReadOnlySpan<float>(xp + (long)r * c, c);
            var dst = new Span<float>(yp + (long)r * c, c);
            float inv = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(src) / c + eps);
            TensorPrimitives.Multiply(src, inv, dst);
            if (wp != null) TensorPrimitives.Multiply(dst, new ReadOnlySpan<float>(wp, c), dst);
        });
        return y;
    }

    public override Tensor L2Normalize(Tensor x, float eps)
    {
        using var prof_ = Prof("L2Normalize");
        Rows(x, out var xc, out var y, out int rows, out int c);
        using var _ = xc;
        float* xp = F32(xc), yp = F32(y);
        ForRows(rows, c, r =>
        {
            var src = new ReadOnlySpan<float>(xp + (long)r * c, c);
            float norm = MathF.Max(MathF.Sqrt(TensorPrimitives.SumOfSquares(src)), eps);
            TensorPrimitives.Divide(src, norm, new Span<float>(yp + (long)r * c, c));
        });
        return y;
    }

    public override Tensor Softmax(Tensor x, float scale, bool log, Tensor? mask = null)
    {
        using var prof_ = Prof("Softmax");
        Rows(x, out var xc, out var y, out int rows, out int c);
        using var _ = xc;
        Tensor? mc = null;
        if (mask is not null)
        {
            var bs = ScalarOps.BroadcastShape(x.Shape, mask.Shape, "Softmax mask");
            if (!bs.AsSpan().SequenceEqual(x.ShapeArray))
                throw new ArgumentException($"Softmax: mask {Tensor.ShapeString(mask.Shape)} does not broadcast to {Tensor.ShapeString(x.Shape)}");
            using var me = mask.Expand(x.ShapeArray);
            mc = Contiguous(me);
        }
        using var __ = mc;
        float* xp = F32(xc), yp = F32(y), mp = mc is null ? null : F32(mc);
        ForRows(rows, c, r =>
        {
            var dst = new Span<float>(yp + (long)r * c, c);
            var src = new ReadOnlySpan<float>(xp + (long)r * c, c);
            if (mp != null) TensorPrimitives.MultiplyAdd(src, scale, new ReadOnlySpan<float>(mp + (long)r * c, c), dst);
            else TensorPrimitives.Multiply(src, scale, dst);
            SoftmaxRow(dst, log);
        });
        return y;
    }

    /// <summary>In-place softmax (or log-softmax) of one row of already scaled and masked scores.</summary>
    private static void SoftmaxRow(Span<float> row, bool log)
    {
        float max = TensorPrimitives.Max(row);
        if (float.IsNegativeInfinity(max))
        {
            row.Fill(log ? -MathF.Log(row.Length) : 1f / row.Length);
            return;
        }
        TensorPrimitives.Subtract(row, max, row);
        if (log)
        {
            var t = Scratch(row.Length);
            TensorPrimitives.Exp(row, t);
            float lse = MathF.Log(TensorPrimitives.Sum(t));
            TensorPrimitives.Subtract(row, lse, row);
            return;
        }
        TensorPrimitives.Exp(row, row);
        float sum = TensorPrimitives.Sum(row);
        TensorPrimitives.Multiply(row, 1f / sum, row);
    }

    // ---------------------------------------------------------------- attention

    [ThreadStatic] private static float[]? _scores;

    public override Tensor Attention(Tensor q, Tensor k, Tensor v, AttentionMask mask, float scale)
    {
        using var prof_ = Prof("Attention");
        ScalarOps.CheckAttention(q, k, v, mask);
        int bsz = q.Dim(0), tq = q.Dim(1), hq = q.Dim(2), d = q.Dim(3), tk = k.Dim(1), hkv = k.Dim(2);
        int group = hq / hkv;
        int offset = mask.QueryOffset ?? tk - tq;
        using var qc = q.Stride(-1) == 1 && q.DType == DType.F32 ? null : Dense32(q);
        using var kc = k.Stride(-1) == 1 && k.DType == DType.F32 ? null : Dense32(k);
        using var vc = v.Stride(-1) == 1 && v.DType == DType.F32 ? null : Dense32(v);
        var Q = qc ?? q; var K = kc ?? k; var V = vc ?? v;
        var pad = mask.KeyPadding?.ToFloatArray();
        var prefix = mask.PrefixLengths;
        using var addE = mask.Additive?.Expand(bsz, hq, tq, tk);
        using var addC = addE is null ? null : addE.Stride(-1) == 1 && addE.DType == DType.F32 ? null : Contiguous(addE);
        var add = addC ?? addE;
        var y = Empty([bsz, tq, hq, d]);
        float* qp = F32(Q), kp = F32(K), vp = F32(V), yp = F32(y), ap = add is null ? null : F32(add);
        long qs0 = Q.Stride(0), qs1 = Q.Stride(1), qs2 = Q.Stride(2);
        long ks0 = K.Stride(0), ks1 = K.Stride(1), ks2 = K.Stride(2);
        long vs0 = V.Stride(0), vs1 = V.Stride(1), vs2 = V.Stride(2);
        long as0 = add?.Stride(0) ?? 0, as1 = add?.Stride(1) ?? 0, as2 = add?.Stride(2) ?? 0;
        bool masked = mask.Causal || pad is not null || add is not null;
        CpuParallel.For(bsz * hq, Threads, task =>
        {
            int b = task / hq, h = task % hq, hk = h / group;
            if (_scores is null || _scores.Length < (long)tq * tk)
                _scores = GC.AllocateUninitializedArray<float>(Math.Max(tq * tk, 4096), pinned: true);
            fixed (float* s = _scores)
            {
                float* q0 = qp + b * qs0 + h * qs2, k0 = kp + b * ks0 + hk * ks2, v0 = vp + b * vs0 + hk * vs2;
                Gemm.Run(tq, tk, d, new Gemm.Operand(q0, DType.F32, qs1, 1), new Gemm.Operand(k0, DType.F32, 1, ks1), s, tk, false, 1);
                for (int i = 0; i < tq; i++)
                {
                    var row = new Span<float>(s + (long)i * tk, tk);
                    if (!masked)
                    {
                        TensorPrimitives.Multiply(row, scale, row);
                        SoftmaxRow(row, false);
                        continue;
                    }
                    float* arow = ap == null ? null : ap + b * as0 + h * as1 + i * as2;
                    int qpos = offset + i, pre = prefix?[b] ?? 0;
                    for (int j = 0; j < tk; j++)
                    {
                        bool ok = (!mask.Causal || j <= qpos || j < pre) && (pad is null || pad[(long)b * tk + j] != 0);
                        row[j] = ok ? row[j] * scale + (arow == null ? 0f : arow[j]) : float.NegativeInfinity;
                    }
                    SoftmaxRow(row, false);
                }
                Gemm.Run(tq, d, tk, new Gemm.Operand(s, DType.F32, tk, 1), new Gemm.Operand(v0, DType.F32, vs1, 1),
                    yp + (long)b * tq * hq * d + (long)h * d, (long)hq * d, false, 1);
            }
        });
        return y;
    }

    // ---------------------------------------------------------------- rope, embedding, patches

    public override Tensor Rope(Tensor x, Tensor cos, Tensor sin)
    {
        using var prof_ = Prof("Rope");
        ScalarOps.CheckRope(x, cos, sin);
        int bsz = x.Dim(0), t = x.Dim(1), h = x.Dim(2), d = x.Dim(3), half = d / 2;
        using var xc = Dense32(x);
        using var cc = Dense32(cos);
        using var sc = Dense32(sin);
        var y = Empty(x.ShapeArray);
        float* xp = F32(xc), cp = F32(cc), sp = F32(sc), yp = F32(y);
        bool cosPerBatch = cos.Dim(0) != 1, sinPerBatch = sin.Dim(0) != 1;
        ForRows(bsz * t * h, d, r =>
        {
            int b = r / (t * h), i = r / h % t;
            float* co = cp + ((cosPerBatch ? (long)b : 0) * t + i) * d, si = sp + ((sinPerBatch ? (long)b : 0) * t + i) * d;
            float* src = xp + (long)r * d, dst = yp + (long)r * d;
            for (int e = 0; e < half; e++)
            {
                dst[e] = src[e] * co[e] - src[e + half] * si[e];
                dst[e + half] = src[e + half] * co[e + half] + src[e] * si[e + half];
            }
        });
        return y;
    }

    public override Tensor Embedding(Tensor ids, Tensor table)
    {
        using var prof_ = Prof("Embedding");
        if (table.Rank != 2) throw new ArgumentException($"Embedding table must be (V, C), got {table}");
        int c = table.Dim(1);
        var idx = ScalarOps.Ids(ids, table.Dim(0));
        using var tc = table.Stride(1) == 1 ? null : Contiguous(table);
        var tb = tc ?? table;
        var y = Empty([.. ids.ShapeArray, c]);
        byte* tp = Ptr(tb);
        long ld = tb.Stride(0);
        float* yp = F32(y);
        var dt = tb.DType;
        for (int i = 0; i < idx.Length; i++)
        {
            float* dst = yp + (long)i * c;
            if (dt == DType.F32) Buffer.MemoryCopy((float*)tp + idx[i] * ld, dst, c * 4L, c * 4L);
            else
            {
                ushort* src = (ushort*)tp + idx[i] * ld;
                for (int e = 0; e < c; e++) dst[e] = dt == DType.BF16 ? DTypes.BF16ToFloat(src[e]) : DTypes.F16ToFloat(src[e]);
            }
        }
        return y;
    }

    public override Tensor PatchEmbed(Tensor pixels, Tensor weight, Tensor? bias)
    {
        using var prof_ = Prof("PatchEmbed");
        var (bsz, c, hgt, wid, o, p, hp, wp) = ScalarOps.CheckPatch(pixels, weight, bias);
        using var xc = Dense32(pixels);
        int kk = c * p * p;
        // im2col: one row per patch, (c, ky, kx) order = the flattened (C, p, p) kernel
        using var cols = Empty([bsz * hp * wp, kk]);
        float* xp = F32(xc), colp = F32(cols);
        ForRows(bsz * hp * wp, kk, r =>
        {
            int b = r / (hp * wp), py = r / wp % hp, px = r % wp;
            float* dst = colp + (long)r * kk;
            for (int ch = 0; ch < c; ch++)
                for (int ky = 0; ky < p; ky++)
                    Buffer.MemoryCopy(xp + (((long)b * c + ch) * hgt + py * p + ky) * wid + px * p, dst + (ch * p + ky) * p, p * 4L, p * 4L);
        });
        using var wc = weight.IsContiguous ? null : weight.Contiguous();
        using var w2 = (wc ?? weight).Reshape(o, kk);
        using var y = Linear(cols, w2, bias);
        return y.Reshape(bsz, hp * wp, o);
    }

    // ---------------------------------------------------------------- generation

    public override Tensor Argmax(Tensor x)
    {
        using var prof_ = Prof("Argmax");
        Rows(x, out var xc, out var tmp, out int rows, out int c);
        using var _ = xc;
        tmp.Dispose();
        var r = new long[rows];
        float* xp = F32(xc);
        for (int i = 0; i < rows; i++)
            r[i] = TensorPrimitives.IndexOfMax(new ReadOnlySpan<float>(xp + (long)i * c, c));
        return FromInt64(r, x.ShapeArray[..^1]);
    }

    /// <summary>Per row: a size-k min-heap over the scores (O(V log k)), then sorted descending, ties to the lower index.</summary>
    public override (Tensor Values, Tensor Indices) TopK(Tensor x, int k)
    {
        using var prof_ = Prof("TopK");
        int c = x.Dim(-1);
        if (k < 1 || k > c) throw new ArgumentOutOfRangeException(nameof(k), $"TopK k={k} for a last dim of {c}");
        using var xc = Dense32(x);
        int rows = (int)(x.ElementCount / Math.Max(1, c));
        int[] shape = [.. x.ShapeArray[..^1], k];
        var vals = new float[(long)rows * k];
        var idx = new long[(long)rows * k];
        float* xp = F32(xc);
        CpuParallel.Range(rows, Threads, (s0, e0) =>
        {
            // "better" = larger value, or equal value with a lower index; the heap root is the worst kept entry
            var hv = new float[k];
            var hi = new int[k];
            for (long r = s0; r < e0; r++)
            {
                float* row = xp + r * c;
                int n = 0;
                for (int j = 0; j < c; j++)
                {
                    float v = row[j];
                    if (n < k)
                    {
                        int at = n++;
                        while (at > 0)
                        {
                            int parent = (at - 1) / 2;
                            if (!Worse(v, j, hv[parent], hi[parent])) break;
                            hv[at] = hv[parent]; hi[at] = hi[parent]; at = parent;
                        }
                        hv[at] = v; hi[at] = j;
                    }
                    else if (Worse(hv[0], hi[0], v, j))
                    {
                        int at = 0;
                        while (true)
                        {
                            int l = 2 * at + 1, rr = l + 1, m = at;
                            float mv = v; int mi = j;
                            if (l < k && Worse(hv[l], hi[l], mv, mi)) { m = l; mv = hv[l]; mi = hi[l]; }
                            if (rr < k && Worse(hv[rr], hi[rr], mv, mi)) { m = rr; }
                            if (m == at) break;
                            hv[at] = hv[m]; hi[at] = hi[m]; at = m;
                        }
                        hv[at] = v; hi[at] = j;
                    }
                }
                var order = Enumerable.Range(0, k).OrderByDescending(q => hv[q]).ThenBy(q => hi[q]).ToArray();
                for (int q = 0; q < k; q++)
                {
                    vals[r * k + q] = hv[order[q]];
                    idx[r * k + q] = hi[order[q]];
                }
            }
        });
        return (FromFloats(vals, shape), FromInt64(idx, shape));
    }

    /// <summary>(va, ia) ranks below (vb, ib): smaller value, or the same value at a higher index. NaN ranks lowest.</summary>
    private static bool Worse(float va, int ia, float vb, int ib) =>
        va < vb || (va == vb && ia > ib) || (float.IsNaN(va) && !float.IsNaN(vb));
}
