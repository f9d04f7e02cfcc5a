using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization;

/// <summary>Small reads of constant tensors that rewrite rules need (shape operands, "is every element zero").</summary>
internal static class TensorValues
{
    /// <summary>The elements of an int64 or int32 tensor (shape, axes, pads operands), or null for other types.</summary>
    public static long[]? Ints(Tensor? tensor) => tensor?.ElementType switch
    {
        DataType.Int64 => tensor.AsSpan<long>().ToArray(),
        DataType.Int32 => Array.ConvertAll(tensor.AsSpan<int>().ToArray(), i => (long)i),
        _ => null,
    };

    /// <summary>
    /// True when every element equals <paramref name="value"/> exactly (−0 counts as 0). Only the types whose
    /// elements read exactly as doubles are checked; any other type answers false, so a rule never fires on a guess.
    /// </summary>
    public static bool AllEqual(Tensor tensor, double value)
    {
        if (tensor.ElementType == DataType.String) return false;
        switch (tensor.ElementType)
        {
            case DataType.Float: foreach (float v in tensor.AsSpan<float>()) if (v != value) return false; return true;
            case DataType.Double: foreach (double v in tensor.AsSpan<double>()) if (v != value) return false; return true;
            case DataType.Float16: foreach (var v in tensor.AsSpan<Half>()) if ((double)v != value) return false; return true;
            case DataType.BFloat16:
                foreach (ushort bits in tensor.AsSpan<ushort>())
                    if (BitConverter.Int32BitsToSingle(bits << 16) != value) return false;
                return true;
            case DataType.Int8: foreach (sbyte v in tensor.AsSpan<sbyte>()) if (v != value) return false; return true;
            case DataType.UInt8: foreach (byte v in tensor.AsSpan<byte>()) if (v != value) return false; return true;
            case DataType.Int16: foreach (short v in tensor.AsSpan<short>()) if (v != value) return false; return true;
            case DataType.UInt16: foreach (ushort v in tensor.AsSpan<ushort>()) if (v != value) return false; return true;
            case DataType.Int32: foreach (int v in tensor.AsSpan<int>()) if (v != value) return false; return true;
            case DataType.UInt32: foreach (uint v in tensor.AsSpan<uint>()) if (v != value) return false; return true;
            case DataType.Int64: foreach (long v in tensor.AsSpan<long>()) if (v != value) return false; return true;
            case DataType.UInt64: foreach (ulong v in tensor.AsSpan<ulong>()) if (v != value) return false; return true;
            default: return false;
        }
    }
}
