// The plain scalar twin of every CPU op: the definition the fast kernels (and later the CUDA kernels) are tested
// against. Inputs are densified to float[] in logical order, then plain loops; nothing here is tuned.
// Numerics follow torch's f32 CPU ops: biased variance in LayerNorm, max-subtracted softmax, exact-erf GELU.
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Backends.Cpu;

internal static class ScalarOps
{
    // Dimension letters: B batch, M/N/K GEMM sizes, Tq/Tk query/key tokens, H heads, D head dim, C channels.

    public static float[] Dense(Tensor t)
    {
        var r = new float[t.ElementCount];
        t.Backend.Read(t, r);
        return r;
    }

    private static float[] DenseAs(Tensor t, int[] shape) => Dense(t.Rank == shape.Length && t.ShapeArray.AsSpan().SequenceEqual(shape) ? t : t.Expand(shape));

    public static int[] BroadcastShape(IReadOnlyList<int> a, IReadOnlyList<int> b, string op)
    {
        int rank = Math.Max(a.Count, b.Count);
        var r = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i - (rank - a.Count) >= 0 ? a[i - (rank - a.Count)] : 1;
            int db = i - (rank - b.Count) >= 0 ? b[i - (rank - b.Count)] : 1;
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"{op}: shapes {Tensor.ShapeString(a)} and {Tensor.ShapeString(b)} do not broadcast");
            r[i] = da == 1 ? db : da;
        }
        return r;
    }

    public static Tensor Wrap(CpuBackendBase be, float[] data, int[] shape) => be.FromFloats(data, shape);

    public static Tensor Binary(CpuBackendBase be, Tensor a, Tensor b, Func<float, float, float> f, string op)
    {
        var shape = BroadcastShape(a.Shape, b.Shape, op);
        var x = DenseAs(a, shape);
        var y = DenseAs(b, shape);
        var r = new float[x.Length];
        for (int i = 0; i < r.Length; i++) r[i] = f(x[i], y[i]);
        return Wrap(be, r, shape);
    }

    public static Tensor Map(CpuBackendBase be, Tensor a, Func<float, float> f)
    {
        var x = Dense(a);
        for (int i = 0; i < x.Length; i++) x[i] = f(x[i]);
        return Wrap(be, x, a.ShapeArray);
    }

    public static Tensor MatMul(CpuBackendBase be, Tensor a, Tensor b)
    {
        if (a.Rank < 2 || b.Rank < 2) throw new ArgumentException($"MatMul needs rank ≥ 2: {a} @ {b}");
        int m = a.Dim(-2), k = a.Dim(-1), n = b.Dim(-1);
        if (b.Dim(-2) != k)
            throw new ArgumentException($"MatMul: inner dims differ: {Tensor.ShapeString(a.Shape)} @ {Tensor.ShapeString(b.Shape)}");
        var batch = BroadcastShape(a.ShapeArray[..^2], b.ShapeArray[..^2], "MatMul");
        var x = DenseAs(a, [.. batch, m, k]);
        var y = DenseAs(b, [.. batch, k, n]);
        long nb = CpuBackendBase.Count(batch);
        var r = new float[nb * m * n];
        for (long bi = 0; bi < nb; bi++)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    float acc = 0;
                    for (int p = 0; p < k; p++) acc += x[bi * m * k + i * k + p] * y[bi * k * n + p * n + j];
                    r[bi * m * n + i * n + j] = acc;
                }
        return Wrap(be, r, [.. batch, m, n]);
    }

    public static Tensor Linear(CpuBackendBase be, Tensor x, Tensor w, Tensor? bias)
    {
        int k = x.Dim(-1);
        if (w.Rank != 2 || w.Dim(1) != k)
            throw new ArgumentException($"Linear: input {Tensor.ShapeString(x.Shape)} needs a weight (N, {k}), got {Tensor.ShapeString(w.Shape)}");
        int n = w.Dim(0);
        if (bias is not null && (bias.Rank != 1 || bias.Dim(0) != n))
            throw new ArgumentException($"Linear: bias {Tensor.ShapeString(bias.Shape)} does not match weight {Tensor.ShapeString(w.Shape)}");
        var xs = Dense(x);
        var ws = Dense(w);
        var bs = bias is null ? null : Dense(bias);
        long rows = x.ElementCount / Math.Max(1, k);
        var r = new float[rows * n];
        for (long i = 0; i < rows; i++)
            for (int j = 0; j < n; j++)
            {
                float acc = 0;
                for (int p = 0; p < k; p++) acc += xs[i * k + p] * ws[(long)j * k + p];
                r[i * n + j] = acc + (bs?[j] ?? 0f);
            }
        var shape = (int[])x.ShapeArray.Clone();
        shape[^1] = n;
        return Wrap(be, r, shape);
    }

    public static Tensor Activate(CpuBackendBase be, Tensor x, Activation act) => Map(be, x, act switch
    {
        Activation.GeluErf => v => (float)(0.5 * v * (1.0 + Erf(v / Math.Sqrt(2.0)))),
        Activation.GeluTanh => v => 0.5f * v * (1f + MathF.Tanh(0.7978845608028654f * (v + 0.044715f * v * v * v))),
        Activation.QuickGelu => v => v / (1f + MathF.Exp(-1.702f * v)),
        Activation.Relu => v => v > 0 ? v : 0f,
        Activation.Silu => v => v / (1f + MathF.Exp(-v)),
        Activation.Sigmoid => v => 1f / (1f + MathF.Exp(-v)),
        Activation.Tanh => MathF.Tanh,
        Activation.Exp => MathF.Exp,
        _ => throw new ArgumentOutOfRangeException(nameof(act), act, "unknown activation"),
    });

    /// <summary>erf in double: Taylor series below 3, continued fraction for erfc above (error &lt; 1e-14).</summary>
    public static double Erf(double x)
    {
        double ax = Math.Abs(x);
        if (ax < 3.0)
        {
            double sum = ax, term = ax, x2 = ax * ax;
            for (int n = 1; n < 200; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            }
            double r = 2.0 / Math.Sqrt(Math.PI) * sum;
            return x < 0 ? -r : r;
        }
        // erfc(x) = exp(-x²)/sqrt(pi) · 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))) (Lentz-free backward evaluation)
        double f = ax;
        for (int n = 60; n >= 1; n--) f = ax + n / 2.0 / f;
        double erfc = Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / f;
        return x < 0 ? erfc - 1.0 : 1.0 - erfc;
    }

    private static (float[] Data, int Rows, int Cols) Rows(Tensor x)
    {
        int c = x.Dim(-1);
        return (Dense(x), (int)(x.ElementCount / Math.Max(1, c)), c);
    }

    private static float[]? Vec(Tensor? t, int c, string what)
    {
        if (t is null) return null;
        if (t.ElementCount != c) throw new ArgumentException($"{what}: expected {c} elements, got {t}");
        return Dense(t);
    }

    public static Tensor LayerNorm(CpuBackendBase be, Tensor x, Tensor? weight, Tensor? bias, float eps)
    {
        var (d, rows, c) = Rows(x);
        var w = Vec(weight, c, "LayerNorm weight");
        var b = Vec(bias, c, "LayerNorm bias");
        for (int r = 0; r < rows; r++)
        {
            var row = d.AsSpan(r * c, c);
            double mean = 0, var = 0;
            foreach (var v in row) mean += v;
            mean /= c;
            foreach (var v in row) var += (v - mean) * (v - mean);
            var /= c;
            float inv = (float)(1.0 / Math.Sqrt(var + eps));
            for (int i = 0; i < c; i++)
                row[i] = (float)((row[i] - mean) * inv) * (w?[i] ?? 1f) + (b?[i] ?? 0f);
        }
        return Wrap(be, d, x.ShapeArray);
    }

    public static Tensor RmsNorm(CpuBackendBase be, Tensor x, Tensor? weight, float eps)
    {
        var (d, rows, c) = Rows(x);
        var w = Vec(weight, c, "RmsNorm weight");
        for (int r = 0; r < rows; r++)
        {
            var row = d.AsSpan(r * c, c);
            double ss = 0;
            foreach (var v in row) ss += (double)v * v;
            float inv = (float)(1.0 / Math.Sqrt(ss / c + eps));
            for (int i = 0; i < c; i++) row[i] = row[i] * inv * (w?[i] ?? 1f);
        }
        return Wrap(be, d, x.ShapeArray);
    }

    public static Tensor L2Normalize(CpuBackendBase be, Tensor x, float eps)
    {
        var (d, rows, c) = Rows(x);
        for (int r = 0; r < rows; r++)
        {
            var row = d.AsSpan(r * c, c);
            double ss = 0;
            foreach (var v in row) ss += (double)v * v;
            float norm = Math.Max((float)Math.Sqrt(ss), eps);
            for (int i = 0; i < c; i++) row[i] /= norm;
        }
        return Wrap(be, d, x.ShapeArray);
    }

    public static Tensor Softmax(CpuBackendBase be, Tensor x, float scale, bool log, Tensor? mask)
    {
        var (d, rows, c) = Rows(x);
        float[]? m = null;
        if (mask is not null)
        {
            if (!BroadcastShape(x.Shape, mask.Shape, "Softmax mask").AsSpan().SequenceEqual(x.ShapeArray))
                throw new ArgumentException($"Softmax: mask {Tensor.ShapeString(mask.Shape)} does not broadcast to {Tensor.ShapeString(x.Shape)}");
            m = DenseAs(mask, x.ShapeArray);
        }
        for (int r = 0; r < rows; r++)
        {
            var row = d.AsSpan(r * c, c);
            float max = float.NegativeInfinity;
            for (int i = 0; i < c; i++)
            {
                row[i] = row[i] * scale + (m?[(long)r * c + i] ?? 0f);
                max = Math.Max(max, row[i]);
            }
            double sum = 0;
            for (int i = 0; i < c; i++) sum += Math.Exp(row[i] - max);
            for (int i = 0; i < c; i++)
                row[i] = log ? (float)(row[i] - max - Math.Log(sum)) : (float)(Math.Exp(row[i] - max) / sum);
        }
        return Wrap(be, d, x.ShapeArray);
    }

    public static Tensor Sum(CpuBackendBase be, Tensor x, int dim)
    {
        int a = x.Axis(dim);
        var moved = Enumerable.Range(0, x.Rank).Where(i => i != a).Append(a).ToArray();
        var (d, rows, c) = Rows(x.Permute(moved));
        var r = new float[rows];
        for (int i = 0; i < rows; i++)
        {
            double s = 0;
            for (int j = 0; j < c; j++) s += d[(long)i * c + j];
            r[i] = (float)s;
        }
        return Wrap(be, r, x.ShapeArray.Where((_, i) => i != a).ToArray());
    }

    public static void CheckAttention(Tensor q, Tensor k, Tensor v, AttentionMask mask)
    {
        if (q.Rank != 4 || k.Rank != 4 || v.Rank != 4)
            throw new ArgumentException($"Attention wants q (B, Tq, Hq, D), k/v (B, Tk, Hkv, D); got {q}, {k}, {v}");
        int b = q.Dim(0), hq = q.Dim(2), d = q.Dim(3), tk = k.Dim(1), hkv = k.Dim(2);
        if (k.Dim(0) != b || v.Dim(0) != b || v.Dim(1) != tk || v.Dim(2) != hkv || k.Dim(3) != d || v.Dim(3) != d)
            throw new ArgumentException($"Attention: q {Tensor.ShapeString(q.Shape)}, k {Tensor.ShapeString(k.Shape)}, v {Tensor.ShapeString(v.Shape)} disagree");
        if (hkv == 0 || hq % hkv != 0)
            throw new ArgumentException($"Attention: {hq} query heads is not a multiple of {hkv} key/value heads");
        if (mask.KeyPadding is { } kp && (kp.Rank != 2 || kp.Dim(0) != b || kp.Dim(1) != tk))
            throw new ArgumentException($"Attention: KeyPadding must be (B={b}, Tk={tk}), got {Tensor.ShapeString(kp.Shape)}");
        if (mask.PrefixLengths is { } pl && pl.Length != b)
            throw new ArgumentException($"Attention: PrefixLengths has {pl.Length} entries for batch {b}");
    }

    public static Tensor Attention(CpuBackendBase be, Tensor q, Tensor k, Tensor v, AttentionMask mask, float scale)
    {
        CheckAttention(q, k, v, mask);
        int bsz = q.Dim(0), tq = q.Dim(1), hq = q.Dim(2), d = q.Dim(3), tk = k.Dim(1), hkv = k.Dim(2);
        int group = hq / hkv;
        int offset = mask.QueryOffset ?? tk - tq;
        var qs = Dense(q);
        var ks = Dense(k);
        var vs = Dense(v);
        var pad = mask.KeyPadding is null ? null : Dense(mask.KeyPadding);
        var add = mask.Additive is null ? null : DenseAs(mask.Additive, [bsz, hq, tq, tk]);
        var r = new float[(long)bsz * tq * hq * d];
        var s = new double[tk];
        var allowed = new bool[tk];
        for (int b = 0; b < bsz; b++)
            for (int h = 0; h < hq; h++)
            {
                int hk = h / group;
                for (int i = 0; i < tq; i++)
                {
                    int any = 0;
                    for (int j = 0; j < tk; j++)
                    {
                        bool ok = !mask.Causal || j <= offset + i || (mask.PrefixLengths is { } pl && j < pl[b]);
                        if (pad is not null && pad[(long)b * tk + j] == 0) ok = false;
                        allowed[j] = ok;
                        if (!ok) continue;
                        float dot = 0;
                        for (int e = 0; e < d; e++)
                            dot += qs[(((long)b * tq + i) * hq + h) * d + e] * ks[(((long)b * tk + j) * hkv + hk) * d + e];
                        s[j] = dot * scale + (add?[(((long)b * hq + h) * tq + i) * tk + j] ?? 0f);
                        if (!double.IsNegativeInfinity(s[j])) any++;
                    }
                    double max = double.NegativeInfinity, sum = 0;
                    for (int j = 0; j < tk; j++) if (allowed[j]) max = Math.Max(max, s[j]);
                    for (int j = 0; j < tk; j++)
                    {
                        s[j] = any == 0 ? 1.0 : allowed[j] ? Math.Exp(s[j] - max) : 0.0;
                        sum += s[j];
                    }
                    for (int e = 0; e < d; e++)
                    {
                        double acc = 0;
                        for (int j = 0; j < tk; j++) acc += s[j] * vs[(((long)b * tk + j) * hkv + hk) * d + e];
                        r[(((long)b * tq + i) * hq + h) * d + e] = (float)(acc / sum);
                    }
                }
            }
        return Wrap(be, r, [bsz, tq, hq, d]);
    }

    public static void CheckRope(Tensor x, Tensor cos, Tensor sin)
    {
        if (x.Rank != 4 || x.Dim(3) % 2 != 0)
            throw new ArgumentException($"Rope wants x (B, T, H, D) with even D, got {x}");
        foreach (var t in new[] { cos, sin })
            if (t.Rank != 3 || (t.Dim(0) != x.Dim(0) && t.Dim(0) != 1) || t.Dim(1) != x.Dim(1) || t.Dim(2) != x.Dim(3))
                throw new ArgumentException($"Rope: cos/sin must be (B or 1, T, D) = (_, {x.Dim(1)}, {x.Dim(3)}), got {Tensor.ShapeString(t.Shape)}");
    }

    public static Tensor Rope(CpuBackendBase be, Tensor x, Tensor cos, Tensor sin)
    {
        CheckRope(x, cos, sin);
        int bsz = x.Dim(0), t = x.Dim(1), h = x.Dim(2), d = x.Dim(3), half = d / 2;
        var xs = Dense(x);
        var c = DenseAs(cos, [bsz, t, d]);
        var s = DenseAs(sin, [bsz, t, d]);
        var r = new float[xs.Length];
        for (int b = 0; b < bsz; b++)
            for (int i = 0; i < t; i++)
                for (int hh = 0; hh < h; hh++)
                {
                    long o = (((long)b * t + i) * h + hh) * d, cs = ((long)b * t + i) * d;
                    for (int e = 0; e < d; e++)
                    {
                        float rot = e < half ? -xs[o + e + half] : xs[o + e - half];
                        r[o + e] = xs[o + e] * c[cs + e] + rot * s[cs + e];
                    }
                }
        return Wrap(be, r, x.ShapeArray);
    }

    public static long[] Ids(Tensor ids, int vocab)
    {
        if (ids.DType is not (DType.I64 or DType.I32))
            throw new ArgumentException($"Embedding ids must be I64 or I32, got {ids}");
        var r = ids.ToInt64Array();
        for (int i = 0; i < r.Length; i++)
            if (r[i] < 0 || r[i] >= vocab)
                throw new ArgumentOutOfRangeException(nameof(ids), $"token id {r[i]} at flat position {i} is outside the embedding table of {vocab} rows");
        return r;
    }

    public static Tensor Embedding(CpuBackendBase be, Tensor ids, Tensor table)
    {
        if (table.Rank != 2) throw new ArgumentException($"Embedding table must be (V, C), got {table}");
        int c = table.Dim(1);
        var idx = Ids(ids, table.Dim(0));
        var r = new float[idx.Length * c];
        for (int i = 0; i < idx.Length; i++)
        {
            using var row = table.Select(0, (int)idx[i]);
            Dense(row).CopyTo(r, (long)i * c);
        }
        return Wrap(be, r, [.. ids.ShapeArray, c]);
    }

    public static (int B, int C, int H, int W, int O, int P, int Hp, int Wp) CheckPatch(Tensor pixels, Tensor weight, Tensor? bias)
    {
        if (pixels.Rank != 4 || weight.Rank != 4 || weight.Dim(1) != pixels.Dim(1) || weight.Dim(2) != weight.Dim(3))
            throw new ArgumentException($"PatchEmbed wants pixels (B, C, H, W) and a square kernel (O, C, p, p); got {pixels}, {weight}");
        int p = weight.Dim(2);
        if (bias is not null && bias.ElementCount != weight.Dim(0))
            throw new ArgumentException($"PatchEmbed bias {bias} does not match {weight.Dim(0)} output channels");
        if (pixels.Dim(2) < p || pixels.Dim(3) < p)
            throw new ArgumentException($"PatchEmbed: image {pixels.Dim(2)}x{pixels.Dim(3)} is smaller than the {p}x{p} patch");
        return (pixels.Dim(0), pixels.Dim(1), pixels.Dim(2), pixels.Dim(3), weight.Dim(0), p, pixels.Dim(2) / p, pixels.Dim(3) / p);
    }

    public static Tensor PatchEmbed(CpuBackendBase be, Tensor pixels, Tensor weight, Tensor? bias)
    {
        var (bsz, c, hgt, wid, o, p, hp, wp) = CheckPatch(pixels, weight, bias);
        var x = Dense(pixels);
        var w = Dense(weight);
        var bs = bias is null ? null : Dense(bias);
        var r = new float[(long)bsz * hp * wp * o];
        for (int b = 0; b < bsz; b++)
            for (int py = 0; py < hp; py++)
                for (int px = 0; px < wp; px++)
                    for (int oc = 0; oc < o; oc++)
                    {
                        float acc = 0;
                        for (int ch = 0; ch < c; ch++)
                            for (int ky = 0; ky < p; ky++)
                                for (int kx = 0; kx < p; kx++)
                                    acc += w[((oc * c + ch) * p + ky) * p + kx] * x[(((long)b * c + ch) * hgt + py * p + ky) * wid + px * p + kx];
                        r[(((long)b * hp + py) * wp + px) * o + oc] = acc + (bs?[oc] ?? 0f);
                    }
        return Wrap(be, r, [bsz, hp * wp, o]);
    }

    public static Tensor Argmax(CpuBackendBase be, Tensor x)
    {
        var (d, rows, c) = Rows(x);
        var r = new long[rows];
        for (int i = 0; i < rows; i++)
        {
            int best = 0;
            for (int j = 1; j < c; j++) if (d[(long)i * c + j] > d[(long)i * c + best]) best = j;
            r[i] = best;
        }
        return be.FromInt64(r, x.ShapeArray[..^1]);
    }

    public static (Tensor, Tensor) TopK(CpuBackendBase be, Tensor x, int k)
    {
        var (d, rows, c) = Rows(x);
        if (k < 1 || k > c) throw new ArgumentOutOfRangeException(nameof(k), $"TopK k={k} for a last dim of {c}");
        var vals = new float[(long)rows * k];
        var idx = new long[(long)rows * k];
        for (int i = 0; i < rows; i++)
        {
            var order = Enumerable.Range(0, c).OrderByDescending(j => d[(long)i * c + j]).ThenBy(j => j).Take(k).ToArray();
            for (int j = 0; j < k; j++)
            {
                vals[(long)i * k + j] = d[(long)i * c + order[j]];
                idx[(long)i * k + j] = order[j];
            }
        }
        int[] shape = [.. x.ShapeArray[..^1], k];
        return (be.FromFloats(vals, shape), be.FromInt64(idx, shape));
    }
}
