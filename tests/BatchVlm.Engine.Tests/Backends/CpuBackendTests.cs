// Every fast CpuBackend op against its scalar twin (ReferenceBackend) on random inputs, odd sizes and
// non-contiguous views (ggml's test-backend-ops pattern). Tolerance (f32): max|fast − ref| ≤ 1e-5 · max(1, max|ref|)
// unless a test says otherwise; bf16/f16 weights are converted exactly by both, so the same bound holds.
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Backends.Cpu;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Tests.Backends;

public class CpuBackendTests
{
    private static readonly CpuBackend Fast = new(new CpuBackendOptions { Threads = 2 });
    private static readonly ReferenceBackend Ref = ReferenceBackend.Instance;
    private readonly Random _rng = new(1234);

    private Tensor Rand(params int[] shape)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        var data = new float[n];
        for (int i = 0; i < n; i++) data[i] = (float)(_rng.NextDouble() * 2 - 1);
        return Fast.FromFloats(data, shape);
    }

    private static void AssertClose(Tensor expected, Tensor actual, double rel = 1e-5)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        var e = expected.ToFloatArray();
        var a = actual.ToFloatArray();
        double maxRef = Math.Max(1, e.Length == 0 ? 0 : e.Max(v => Math.Abs(v)));
        double worst = 0;
        int at = -1;
        for (int i = 0; i < e.Length; i++)
        {
            double d = Math.Abs(e[i] - a[i]);
            if (double.IsNaN(a[i]) != double.IsNaN(e[i])) d = double.PositiveInfinity;
            if (d > worst) { worst = d; at = i; }
        }
        Assert.True(worst <= rel * maxRef, $"max |fast − ref| = {worst:G4} at flat index {at} (ref {(at >= 0 ? e[at] : 0)}, fast {(at >= 0 ? a[at] : 0)}), bound {rel * maxRef:G4}");
    }

    private static void Both(Func<IBackend, Tensor> op, double rel = 1e-5)
    {
        using var r = op(Ref);
        using var f = op(Fast);
        AssertClose(r, f, rel);
    }

    [Theory]
    [InlineData(1, 5, 7, true)]
    [InlineData(3, 17, 33, false)]
    [InlineData(8, 64, 96, true)]
    [InlineData(9, 40, 31, true)]
    [InlineData(37, 129, 65, true)]
    [InlineData(200, 300, 70, false)]
    [InlineData(29, 520, 100, true)]
    public void Linear_F32_MatchesReference(int m, int k, int n, bool bias)
    {
        using var x = Rand(m, k);
        using var w = Rand(n, k);
        using var b = bias ? Rand(n) : null;
        Both(be => be.Linear(x, w, b));
    }

    [Theory]
    [InlineData(DType.BF16, 5)]
    [InlineData(DType.BF16, 45)]
    [InlineData(DType.F16, 3)]
    [InlineData(DType.F16, 33)]
    public void Linear_HalfWeights_MatchesReference(DType dtype, int m)
    {
        using var x = Rand(2, m, 77);
        using var w32 = Rand(50, 77);
        using var w = w32.To(dtype);
        using var b = Rand(50);
        Both(be => be.Linear(x, w, b));
    }

    [Fact]
    public void Linear_NonContiguousInput_MatchesReference()
    {
        using var x = Rand(40, 3, 30);
        using var xt = x.Transpose(0, 1);          // (3, 40, 30), rows strided
        using var xn = x.Narrow(2, 3, 20);          // unit column stride, row stride 30
        using var w = Rand(19, 30);
        using var w2 = Rand(19, 20);
        Both(be => be.Linear(xt, w, null));
        Both(be => be.Linear(xn, w2, null));
    }

    [Theory]
    [InlineData(1, 13, 9, 11)]
    [InlineData(4, 33, 17, 65)]
    [InlineData(2, 70, 64, 70)]
    public void MatMul_Batched_MatchesReference(int batch, int m, int k, int n)
    {
        using var a = Rand(batch, m, k);
        using var b = Rand(batch, k, n);
        Both(be => be.MatMul(a, b));
        using var bt = Rand(batch, n, k);
        using var btv = bt.Transpose(1, 2);        // (batch, k, n) as a transposed view
        Both(be => be.MatMul(a, btv));
        using var b1 = Rand(k, n);                  // broadcast over batch
        Both(be => be.MatMul(a, b1));
    }

    [Fact]
    public void AddMul_BroadcastAndViews_MatchReference()
    {
        using var a = Rand(3, 7, 11);
        using var b = Rand(3, 7, 11);
        using var bias = Rand(11);
        using var col = Rand(3, 7, 1);
        using var at = Rand(11, 7, 3);
        using var atv = at.Permute(2, 1, 0);
        foreach (var op in new Func<IBackend, Tensor, Tensor, Tensor>[] { (be, x, y) => be.Add(x, y), (be, x, y) => be.Mul(x, y) })
        {
            Both(be => op(be, a, b));
            Both(be => op(be, a, bias));
            Both(be => op(be, bias, a));
            Both(be => op(be, a, col));
            Both(be => op(be, atv, b));
        }
    }

    [Theory]
    [InlineData(Activation.GeluErf)]
    [InlineData(Activation.GeluTanh)]
    [InlineData(Activation.QuickGelu)]
    [InlineData(Activation.Relu)]
    [InlineData(Activation.Silu)]
    [InlineData(Activation.Sigmoid)]
    [InlineData(Activation.Tanh)]
    [InlineData(Activation.Exp)]
    public void Activate_MatchesReference(Activation act)
    {
        using var x0 = Rand(5, 3001);
        using var x = x0.Scale(6f);                 // covers the tails (|x| up to 6)
        Both(be => be.Activate(x, act), 2e-6);
        using var xt = x.Transpose(0, 1);
        Both(be => be.Activate(xt, act), 2e-6);
    }

    [Fact]
    public void Affine_MatchesReference()
    {
        using var x = Rand(17, 9);
        Both(be => be.Affine(x, 0.37f, -1.5f));
    }

    [Theory]
    [InlineData(1, 48)]
    [InlineData(13, 77)]
    [InlineData(300, 768)]
    public void Norms_MatchReference(int rows, int c)
    {
        using var x = Rand(rows, c);
        using var w = Rand(c);
        using var b = Rand(c);
        Both(be => be.LayerNorm(x, w, b, 1e-6f));
        Both(be => be.LayerNorm(x, null, null, 1e-5f));
        Both(be => be.RmsNorm(x, w, 1e-6f));
        Both(be => be.RmsNorm(x, null, 1e-6f));
        Both(be => be.L2Normalize(x, 1e-12f));
        using var xt = Rand(c, rows).Transpose(0, 1);
        Both(be => be.LayerNorm(xt, w, b, 1e-6f));
    }

    [Fact]
    public void Softmax_ScaleMaskAndLog_MatchReference()
    {
        using var x = Rand(2, 5, 37);
        using var mask = Rand(5, 37);
        Both(be => be.Softmax(x, 0.125f, false));
        Both(be => be.Softmax(x, 1f, true));
        Both(be => be.Softmax(x, 2f, false, mask));
        Both(be => be.Softmax(x, 2f, true, mask));
    }

    public static TheoryData<int, int, int, int, int, int, string> AttentionCases => new()
    {
        { 2, 7, 7, 4, 4, 16, "none" },
        { 2, 17, 17, 4, 4, 64, "causal" },
        { 3, 9, 9, 6, 2, 24, "causal+padding" },
        { 2, 5, 12, 8, 1, 24, "causal" },      // MQA, queries are the last 5 of 12 keys (cached decode)
        { 2, 1, 30, 4, 2, 32, "padding" },     // one-token decode with left padding
        { 2, 11, 11, 4, 4, 16, "prefix" },
        { 2, 6, 10, 4, 2, 8, "additive" },
        { 3, 8, 8, 2, 2, 8, "fully-masked" },
    };

    [Theory]
    [MemberData(nameof(AttentionCases))]
    public void Attention_Masks_MatchReference(int b, int tq, int tk, int hq, int hkv, int d, string kind)
    {
        using var q = Rand(b, tq, hq, d);
        using var k = Rand(b, tk, hkv, d);
        using var v = Rand(b, tk, hkv, d);
        var pad = new long[b * tk];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < tk; j++) pad[i * tk + j] = j < i ? 0 : 1;   // row i: i left-padding keys
        if (kind == "fully-masked") Array.Clear(pad, 0, tk);               // row 0 sees nothing → uniform
        using var padT = Fast.FromInt64(pad, b, tk);
        using var add = Rand(b, 1, tq, tk);
        var mask = kind switch
        {
            "none" => AttentionMask.None,
            "causal" => AttentionMask.CausalOnly,
            "causal+padding" => new AttentionMask { Causal = true, KeyPadding = padT },
            "padding" or "fully-masked" => new AttentionMask { KeyPadding = padT },
            "prefix" => new AttentionMask { Causal = true, PrefixLengths = [4, 7] },
            "additive" => new AttentionMask { Additive = add, KeyPadding = padT },
            _ => throw new ArgumentException(kind),
        };
        Both(be => be.Attention(q, k, v, mask, 1f / MathF.Sqrt(d)));
    }

    [Fact]
    public void Attention_StridedViewsOfFusedQkv_MatchReference()
    {
        // (B, T, 3, H, D) from one fused projection: q, k, v are strided views, no copies
        using var qkv = Rand(2, 13, 3, 4, 16);
        using var q = qkv.Select(2, 0);
        using var k = qkv.Select(2, 1);
        using var v = qkv.Select(2, 2);
        Both(be => be.Attention(q, k, v, AttentionMask.CausalOnly, 0.25f));
    }

    [Fact]
    public void Rope_MatchesReference()
    {
        using var x = Rand(2, 9, 3, 10);
        using var cos = Rand(2, 9, 10);
        using var sin = Rand(1, 9, 10);
        using var xt = Rand(2, 3, 9, 10).Transpose(1, 2);
        Both(be => be.Rope(x, cos, sin));
        Both(be => be.Rope(xt, cos, sin));
    }

    [Fact]
    public void Embedding_F32AndBf16_MatchReference()
    {
        using var table = Rand(50, 13);
        using var tableH = table.To(DType.BF16);
        using var ids = Fast.FromInt64([3, 0, 49, 7, 7, 21], 2, 3);
        Both(be => be.Embedding(ids, table));
        Both(be => be.Embedding(ids, tableH));
    }

    [Fact]
    public void Embedding_IdOutOfRange_ThrowsNamingTheId()
    {
        using var table = Rand(10, 4);
        using var ids = Fast.FromInt64([3, 10], 2);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => Fast.Embedding(ids, table));
        Assert.Contains("token id 10", ex.Message);
    }

    [Theory]
    [InlineData(2, 3, 16, 16, 4, 24, true)]
    [InlineData(1, 3, 13, 17, 4, 9, false)]     // remainder pixels are dropped, as torch's conv2d does
    [InlineData(3, 2, 32, 32, 8, 48, true)]
    public void PatchEmbed_MatchesReference(int b, int c, int h, int w, int p, int o, bool bias)
    {
        using var px = Rand(b, c, h, w);
        using var wt = Rand(o, c, p, p);
        using var bs = bias ? Rand(o) : null;
        Both(be => be.PatchEmbed(px, wt, bs));
    }

    [Fact]
    public void ArgmaxTopK_MatchReference()
    {
        using var x = Rand(4, 101);
        Assert.Equal(Ref.Argmax(x).ToInt64Array(), Fast.Argmax(x).ToInt64Array());
        var (rv, ri) = Ref.TopK(x, 5);
        var (fv, fi) = Fast.TopK(x, 5);
        Assert.Equal(ri.ToInt64Array(), fi.ToInt64Array());
        AssertClose(rv, fv, 0);
    }

    [Fact]
    public void TopK_Ties_LowerIndexFirst_AsReference()
    {
        using var x = Fast.FromFloats([1f, 3, 3, 2, 3, /* row 2 */ -1, -1, -1, -1, 5], 2, 5);
        var (fv, fi) = Fast.TopK(x, 3);
        var (rv, ri) = Ref.TopK(x, 3);
        Assert.Equal([1L, 2, 4, 4, 0, 1], fi.ToInt64Array());
        Assert.Equal(ri.ToInt64Array(), fi.ToInt64Array());
        Assert.Equal(rv.ToFloatArray(), fv.ToFloatArray());
    }

    [Fact]
    public void ConcatCastCopyInto_RoundTrip()
    {
        using var a = Rand(2, 3, 4);
        using var b = Rand(2, 5, 4);
        using var c = Fast.Concat([a, b], 1);
        Assert.Equal([2, 8, 4], c.Shape);
        AssertClose(a, c.Narrow(1, 0, 3), 0);
        AssertClose(b, c.Narrow(1, 3, 5), 0);
        using var cache = Fast.Zeros([2, 10, 4]);
        using var slot = cache.Narrow(1, 2, 5);
        Fast.CopyInto(slot, b);
        AssertClose(b, cache.Narrow(1, 2, 5), 0);
        Assert.Equal(0f, cache.Narrow(1, 0, 2).ToFloatArray().Max(Math.Abs));
        using var h = a.To(DType.F16);
        AssertClose(a, h.To(DType.F32), 1e-3);
    }

    [Fact]
    public void Supports_AnswersPerOpAndDtype()
    {
        Assert.True(Fast.Supports(Op.Linear, DType.BF16));
        Assert.True(Fast.Supports(Op.Linear, DType.F16));
        Assert.False(Fast.Supports(Op.Linear, DType.I64));
        Assert.True(Fast.Supports(Op.Attention, DType.F32));
        Assert.False(Fast.Supports(Op.Attention, DType.BF16));
    }
}
