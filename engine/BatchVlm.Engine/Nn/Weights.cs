// Binding checkpoint weights to engine tensors: `vb.Tensor(backend, "q_proj.weight", C, C)` wraps the memory-
// mapped bytes in place (bf16/f16/f32 stay as stored; kernels convert per tile), shape-checked by the VarBuilder.
using BatchVlm.Engine.Backends;
using BatchVlm.Engine.Loading;
using BatchVlm.Engine.Tensors;

namespace BatchVlm.Engine.Nn;

public static unsafe class Weights
{
    /// <summary>The weight <paramref name="name"/> in <paramref name="vb"/>'s scope as a tensor on
    /// <paramref name="backend"/> (zero-copy on CPU), checked against <paramref name="shape"/> (-1 = any).</summary>
    public static Tensor Tensor(this VarBuilder vb, IBackend backend, string name, params int[] shape)
    {
        var view = vb.GetView(name, shape);
        var dtype = ToDType(view.Dtype)
            ?? throw new ModelLoadException($"Weight '{view.Key}' in {view.Info.FileName} has dtype {view.Dtype.ToHeaderName()}; the engine reads F32, BF16, F16, I64, I32");
        if (!backend.Supports(Op.Linear, dtype) && dtype.IsFloat())
            throw new ModelLoadException($"Weight '{view.Key}': backend '{backend.Name}' cannot compute with {dtype} weights");
        return backend.FromNative(view.Pointer, view.Info.ByteLength, dtype, view.Shape.ToArray(), view.File);
    }

    public static DType? ToDType(SafetensorsDtype d) => d switch
    {
        SafetensorsDtype.F32 => DType.F32,
        SafetensorsDtype.BF16 => DType.BF16,
        SafetensorsDtype.F16 => DType.F16,
        SafetensorsDtype.I64 => DType.I64,
        SafetensorsDtype.I32 => DType.I32,
        _ => null,
    };

    /// <summary>A small weight (norm scales, biases, scalars) as f32 — these are read every call, so the one-off
    /// conversion is worth it; large matrices stay in their stored dtype.</summary>
    public static Tensor TensorF32(this VarBuilder vb, IBackend backend, string name, params int[] shape)
    {
        var t = vb.Tensor(backend, name, shape);
        if (t.DType == DType.F32) return t;
        using (t) return t.To(DType.F32);
    }
}
