// Building blocks model files compose (candle-nn style): each holds its tensors under the checkpoint's names and
// has a Forward. Loading goes through `Load(vb, backend, ...)`, which checks every shape against the config.
// Shapes: (..., C) means any leading dims.
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Nn;

/// <summary>nn.Linear: y = x·Wᵀ + b; W (out, in) stored as in the checkpoint (f32/bf16/f16).</summary>
public sealed class Linear(Tensor weight, Tensor? bias)
{
    public Tensor Weight { get; } = weight;
    public Tensor? Bias { get; } = bias;
    public int InFeatures => Weight.Dim(1);
    public int OutFeatures => Weight.Dim(0);

    /// <summary>Loads "weight" (out, in) and, when <paramref name="bias"/>, "bias" (out) from <paramref name="vb"/>.</summary>
    public static Linear Load(VarBuilder vb, IBackend backend, int inFeatures, int outFeatures, bool bias = true) =>
        new(vb.Tensor(backend, "weight", outFeatures, inFeatures),
            bias ? vb.TensorF32(backend, "bias", outFeatures) : null);

    /// <summary>(..., in) → (..., out)</summary>
    public Tensor Forward(Tensor x) => x.Linear(Weight, Bias);
}

/// <summary>nn.LayerNorm over the last dim.</summary>
public sealed class LayerNorm(Tensor? weight, Tensor? bias, float eps)
{
    public Tensor? Weight { get; } = weight;
    public Tensor? Bias { get; } = bias;
    public float Eps { get; } = eps;

    public static LayerNorm Load(VarBuilder vb, IBackend backend, int size, float eps, bool bias = true) =>
        new(vb.TensorF32(backend, "weight", size), bias ? vb.TensorF32(backend, "bias", size) : null, eps);

    /// <summary>(..., C) → (..., C)</summary>
    public Tensor Forward(Tensor x) => x.LayerNorm(Weight, Bias, Eps);
}

/// <summary>Plain RMSNorm: x / rms(x) · w. Variants (Gemma's 1 + w, T5's no-mean) are written in their model.</summary>
public sealed class RmsNorm(Tensor? weight, float eps)
{
    public Tensor? Weight { get; } = weight;
    public float Eps { get; } = eps;

    public static RmsNorm Load(VarBuilder vb, IBackend backend, int size, float eps) =>
        new(vb.TensorF32(backend, "weight", size), eps);

    public Tensor Forward(Tensor x) => x.RmsNorm(Weight, Eps);
}

/// <summary>nn.Embedding: rows of "weight" (V, C) at the given ids.</summary>
public sealed class Embedding(Tensor weight)
{
    public Tensor Weight { get; } = weight;
    public int NumEmbeddings => Weight.Dim(0);
    public int EmbeddingDim => Weight.Dim(1);

    public static Embedding Load(VarBuilder vb, IBackend backend, int count, int dim) =>
        new(vb.Tensor(backend, "weight", count, dim));

    /// <summary>ids (...) I64/I32 → (..., C) f32</summary>
    public Tensor Forward(Tensor ids) => Weight.Backend.Embedding(ids, Weight);
}

/// <summary>nn.Conv2d with stride = kernel_size (ViT patch embedding) → (B, P, O) tokens.</summary>
public sealed class PatchConv2d(Tensor weight, Tensor? bias)
{
    public Tensor Weight { get; } = weight;
    public Tensor? Bias { get; } = bias;
    public int PatchSize => Weight.Dim(2);

    public static PatchConv2d Load(VarBuilder vb, IBackend backend, int inChannels, int outChannels, int patch, bool bias = true) =>
        new(vb.Tensor(backend, "weight", outChannels, inChannels, patch, patch),
            bias ? vb.TensorF32(backend, "bias", outChannels) : null);

    /// <summary>(B, C, H, W) → (B, (H/p)·(W/p), O)</summary>
    public Tensor Forward(Tensor pixels) => Weight.Backend.PatchEmbed(pixels, Weight, Bias);
}

/// <summary>Rotary-embedding tables the way HF computes them (LlamaRotaryEmbedding / GemmaRotaryEmbedding, f32):
/// inv_freq = 1 / θ^(2i/D); freqs = pos · inv_freq; emb = cat(freqs, freqs); cos/sin of emb.</summary>
public static class RotaryTables
{
    /// <summary>positions (B, T) → (cos, sin), each (B, T, D) f32, for <see cref="IBackend.Rope"/>.</summary>
    public static (Tensor Cos, Tensor Sin) Create(IBackend backend, long[,] positions, int headDim, float theta)
    {
        int b = positions.GetLength(0), t = positions.GetLength(1), half = headDim / 2;
        var invFreq = new float[half];
        for (int i = 0; i < half; i++)
            invFreq[i] = 1f / MathF.Pow(theta, (float)(2 * i) / headDim);
        var cos = new float[b * t * headDim];
        var sin = new float[b * t * headDim];
        for (int bi = 0; bi < b; bi++)
            for (int ti = 0; ti < t; ti++)
                for (int i = 0; i < half; i++)
                {
                    float f = invFreq[i] * positions[bi, ti];
                    float c = MathF.Cos(f), s = MathF.Sin(f);
                    int o = (bi * t + ti) * headDim;
                    cos[o + i] = cos[o + i + half] = c;
                    sin[o + i] = sin[o + i + half] = s;
                }
        return (backend.FromFloats(cos, b, t, headDim), backend.FromFloats(sin, b, t, headDim));
    }
}
