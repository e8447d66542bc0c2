// Element types of engine tensors and their conversions. Compute is f32; weights may be stored as bf16/f16/f32
// (exactly as safetensors holds them) and are converted per tile by the kernels that read them; ids are i64/i32.
using System.Runtime.CompilerServices;

namespace BatchVlm.Engine.Tensors;

public enum DType
{
    F32,
    BF16,
    F16,
    I64,
    I32,
}

public static class DTypes
{
    public static int SizeOf(this DType dtype) => dtype switch
    {
        DType.F32 => 4,
        DType.BF16 => 2,
        DType.F16 => 2,
        DType.I64 => 8,
        DType.I32 => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    public static bool IsFloat(this DType dtype) => dtype is DType.F32 or DType.BF16 or DType.F16;

    /// <summary>The safetensors spelling ("F32", "BF16", "F16", "I64", "I32").</summary>
    public static string SafetensorsName(this DType dtype) => dtype switch
    {
        DType.F32 => "F32",
        DType.BF16 => "BF16",
        DType.F16 => "F16",
        DType.I64 => "I64",
        DType.I32 => "I32",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    public static bool TryParseSafetensors(string name, out DType dtype)
    {
        switch (name)
        {
            case "F32": dtype = DType.F32; return true;
            case "BF16": dtype = DType.BF16; return true;
            case "F16": dtype = DType.F16; return true;
            case "I64": dtype = DType.I64; return true;
            case "I32": dtype = DType.I32; return true;
            default: dtype = default; return false;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BF16ToFloat(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Round-to-nearest-even, as torch's <c>.to(torch.bfloat16)</c>; NaN stays NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FloatToBF16(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7fffffff) > 0x7f800000) return (ushort)((u >> 16) | 0x40);
        u += 0x7fff + ((u >> 16) & 1);
        return (ushort)(u >> 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float F16ToFloat(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FloatToF16(float value) => BitConverter.HalfToUInt16Bits((Half)value);
}
