// The element types a safetensors file can hold, with their on-disk names and sizes.
// Follows the dtype list of huggingface/safetensors (safetensors/src/tensor.rs, v0.4.x): names are the JSON spellings.
namespace BatchVlm.Engine.Loading;

/// <summary>Element type of a tensor stored in a safetensors file (the header's <c>"dtype"</c>).</summary>
public enum SafetensorsDtype
{
    Bool,
    U8,
    I8,
    I16,
    I32,
    I64,
    F16,
    BF16,
    F32,
    F64,
}

public static class SafetensorsDtypes
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(this SafetensorsDtype dtype) => dtype switch
    {
        SafetensorsDtype.Bool or SafetensorsDtype.U8 or SafetensorsDtype.I8 => 1,
        SafetensorsDtype.I16 or SafetensorsDtype.F16 or SafetensorsDtype.BF16 => 2,
        SafetensorsDtype.I32 or SafetensorsDtype.F32 => 4,
        SafetensorsDtype.I64 or SafetensorsDtype.F64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>The header spelling: "F32", "BF16", "BOOL", ...</summary>
    public static string ToHeaderName(this SafetensorsDtype dtype) => dtype switch
    {
        SafetensorsDtype.Bool => "BOOL",
        _ => dtype.ToString(),
    };

    public static bool IsFloat(this SafetensorsDtype dtype) =>
        dtype is SafetensorsDtype.F16 or SafetensorsDtype.BF16 or SafetensorsDtype.F32 or SafetensorsDtype.F64;

    public static bool TryParse(string name, out SafetensorsDtype dtype)
    {
        switch (name)
        {
            case "BOOL": dtype = SafetensorsDtype.Bool; return true;
            case "U8": dtype = SafetensorsDtype.U8; return true;
            case "I8": dtype = SafetensorsDtype.I8; return true;
            case "I16": dtype = SafetensorsDtype.I16; return true;
            case "I32": dtype = SafetensorsDtype.I32; return true;
            case "I64": dtype = SafetensorsDtype.I64; return true;
            case "F16": dtype = SafetensorsDtype.F16; return true;
            case "BF16": dtype = SafetensorsDtype.BF16; return true;
            case "F32": dtype = SafetensorsDtype.F32; return true;
            case "F64": dtype = SafetensorsDtype.F64; return true;
            default: dtype = default; return false;
        }
    }
}
