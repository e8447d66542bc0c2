// The one interface every compute backend implements (CPU now, CUDA in issue 8). About 30 ops; model files reach
// them through Tensor's forwarding methods and never name a backend. A backend answers Supports(op, dtype) so a
// model can refuse to load, with a clear message, instead of failing at the first batch (ggml's supports_op).
//
// Conventions for every op:
// - compute is f32: outputs are F32 unless the op says otherwise; weights (Linear, Embedding) may be F32/BF16/F16.
// - inputs may be non-contiguous views (any strides); outputs are new contiguous tensors on the same backend.
// - shapes follow numpy/torch broadcasting where stated; a bad shape throws ArgumentException naming both shapes.
namespace BatchVlm.Engine.Backends;

using BatchVlm.Engine.Tensors;

public unsafe interface IBackend
{
    string Name { get; }

    /// <summary>Whether <paramref name="op"/> accepts a tensor of <paramref name="dtype"/> (for Linear/Embedding:
    /// the weight dtype; for the rest: the input dtype). Ask it at load time.</summary>
    bool Supports(Op op, DType dtype);

    // ---- memory
    Tensor Zeros(int[] shape, DType dtype = DType.F32);
    Tensor FromFloats(ReadOnlySpan<float> data, params int[] shape);
    Tensor FromInt64(ReadOnlySpan<long> data, params int[] shape);
    /// <summary>Raw little-endian bytes (e.g. a memory-mapped safetensors region). A CPU backend wraps them
    /// without copying and keeps <paramref name="bytes"/> pinned (its owner alive) while any view exists;
    /// a device backend uploads them.</summary>
    Tensor FromBytes(ReadOnlyMemory<byte> bytes, DType dtype, int[] shape);
    /// <summary>Raw little-endian bytes at a native address, e.g. a tensor inside a memory-mapped safetensors file
    /// (any size). A CPU backend wraps them without copying and keeps <paramref name="owner"/> (the mapping)
    /// reachable while any view exists; a device backend uploads them. The memory must outlive the tensor.</summary>
    Tensor FromNative(byte* data, long byteLength, DType dtype, int[] shape, object? owner);
    void Read(Tensor x, Span<float> destination);
    void Read(Tensor x, Span<long> destination);
    Tensor Contiguous(Tensor x);
    /// <summary>Writes <paramref name="source"/> into the view <paramref name="destination"/> (same shape;
    /// e.g. a KV-cache slot), converting dtype if needed.</summary>
    void CopyInto(Tensor destination, Tensor source);
    Tensor Concat(IReadOnlyList<Tensor> parts, int dim);
    Tensor Cast(Tensor x, DType dtype);

    // ---- linear algebra
    /// <summary>(..., M, K) @ (..., K, N) → (..., M, N); batch dims broadcast; a transposed view as b is free.</summary>
    Tensor MatMul(Tensor a, Tensor b);
    /// <summary>x (..., K) · weightᵀ + bias: weight (N, K) as nn.Linear stores it (F32/BF16/F16), bias (N) or null.</summary>
    Tensor Linear(Tensor x, Tensor weight, Tensor? bias);

    // ---- elementwise (a, b broadcast)
    Tensor Add(Tensor a, Tensor b);
    Tensor Mul(Tensor a, Tensor b);
    /// <summary>x · scale + shift.</summary>
    Tensor Affine(Tensor x, float scale, float shift);
    Tensor Activate(Tensor x, Activation activation);

    // ---- normalisation and reductions over the last dim
    /// <summary>(x − mean) / sqrt(var + eps) · weight + bias (biased variance, as torch).</summary>
    Tensor LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float eps);
    /// <summary>x / sqrt(mean(x²) + eps) · weight. Plain: model-specific forms such as Gemma's (1 + w) stay in the model.</summary>
    Tensor RmsNorm(Tensor x, Tensor? weight, float eps);
    /// <summary>x / max(‖x‖₂, eps) (torch.nn.functional.normalize).</summary>
    Tensor L2Normalize(Tensor x, float eps);
    /// <summary>softmax(x · scale + mask) over the last dim, or log_softmax; mask broadcasts to x (additive, f32).</summary>
    Tensor Softmax(Tensor x, float scale, bool log, Tensor? mask = null);
    /// <summary>Sum over <paramref name="dim"/>, which is removed.</summary>
    Tensor Sum(Tensor x, int dim);

    // ---- transformer
    /// <summary>Scaled dot-product attention. q (B, Tq, Hq, D), k and v (B, Tk, Hkv, D) with Hq a multiple of
    /// Hkv (GQA/MQA); output (B, Tq, Hq, D) contiguous, so `.Reshape(B, Tq, Hq·D)` is free.</summary>
    Tensor Attention(Tensor q, Tensor k, Tensor v, AttentionMask mask, float scale);
    /// <summary>Rotary embedding, rotate-half (GPT-NeoX/HF) form: x (B, T, H, D); cos, sin (B or 1, T, D).</summary>
    Tensor Rope(Tensor x, Tensor cos, Tensor sin);
    /// <summary>Rows of table (V, C) (F32/BF16/F16) at ids (any shape, I64/I32) → (ids..., C) f32.</summary>
    Tensor Embedding(Tensor ids, Tensor table);
    /// <summary>Conv2d with stride = kernel (ViT patch embedding): pixels (B, C, H, W), weight (O, C, p, p),
    /// bias (O) or null → (B, (H/p)·(W/p), O), patches in row-major order (= conv.flatten(2).transpose(1, 2)).</summary>
    Tensor PatchEmbed(Tensor pixels, Tensor weight, Tensor? bias);

    // ---- generation
    /// <summary>Index of the maximum over the last dim (first on ties) → I64 with that dim removed.</summary>
    Tensor Argmax(Tensor x);
    /// <summary>k largest over the last dim, sorted descending (ties: lower index first) → (values f32, indices I64).</summary>
    (Tensor Values, Tensor Indices) TopK(Tensor x, int k);
}

/// <summary>The ops a backend may be asked about in <see cref="IBackend.Supports"/>.</summary>
public enum Op
{
    Contiguous, CopyInto, Concat, Cast,
    MatMul, Linear,
    Add, Mul, Affine, Activate,
    LayerNorm, RmsNorm, L2Normalize, Softmax, Sum,
    Attention, Rope, Embedding, PatchEmbed,
    Argmax, TopK,
}

public enum Activation
{
    /// <summary>x·Φ(x) with the exact erf (torch "gelu", HF "gelu").</summary>
    GeluErf,
    /// <summary>tanh approximation (HF "gelu_pytorch_tanh", "gelu_new").</summary>
    GeluTanh,
    /// <summary>x·sigmoid(1.702·x) (OpenAI CLIP).</summary>
    QuickGelu,
    Relu,
    /// <summary>x·sigmoid(x) (HF "silu"/"swish").</summary>
    Silu,
    Sigmoid,
    Tanh,
    Exp,
}

public static class Activations
{
    /// <summary>Maps a Hugging Face <c>hidden_act</c> string to an activation; throws naming the value otherwise.</summary>
    public static Activation FromHf(string name) => name switch
    {
        "gelu" => Activation.GeluErf,
        "gelu_pytorch_tanh" or "gelu_new" or "gelu_fast" => Activation.GeluTanh,
        "quick_gelu" => Activation.QuickGelu,
        "relu" => Activation.Relu,
        "silu" or "swish" => Activation.Silu,
        "sigmoid" => Activation.Sigmoid,
        "tanh" => Activation.Tanh,
        _ => throw new NotSupportedException($"hidden_act '{name}' is not supported (known: gelu, gelu_pytorch_tanh, gelu_new, quick_gelu, relu, silu)"),
    };
}

/// <summary>
/// Which keys a query may see in <see cref="IBackend.Attention"/>. Query i sits at key position QueryOffset + i
/// (default Tk − Tq: queries are the last Tq keys, as with a KV cache). Key j is visible to query i of row b when
/// (not Causal, or j ≤ pos(i), or j &lt; PrefixLengths[b]) and KeyPadding[b, j] ≠ 0; Additive is then added to the
/// scaled scores. A query that sees no key gets uniform weights over all keys — what HF's eager attention does
/// with its float-min additive masks (e.g. left-padding rows of a causal batch).
/// </summary>
public sealed record AttentionMask
{
    public static readonly AttentionMask None = new();
    public static readonly AttentionMask CausalOnly = new() { Causal = true };

    public bool Causal { get; init; }
    /// <summary>Per batch row: keys [0, prefix) are visible to every query (PaliGemma's bidirectional prefix).</summary>
    public int[]? PrefixLengths { get; init; }
    /// <summary>(B, Tk), I64/I32/F32: 1 = real key, 0 = padding.</summary>
    public Tensor? KeyPadding { get; init; }
    /// <summary>(B or 1, H or 1, Tq, Tk) f32 added to the scaled scores.</summary>
    public Tensor? Additive { get; init; }
    public int? QueryOffset { get; init; }
}
