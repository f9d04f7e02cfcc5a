using OnnxQuant.Ir;
using OnnxQuant.Ir.Numerics;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>Reads a one-element numeric tensor as a double, whatever its element type.</summary>
public static class ScalarReader
{
    public static bool TryRead(Tensor tensor, out double value)
    {
        value = 0;
        if (tensor.ElementCount != 1) return false;
        switch (tensor.ElementType)
        {
            case DataType.Float: value = tensor.AsSpan<float>()[0]; return true;
            case DataType.Double: value = tensor.AsSpan<double>()[0]; return true;
            case DataType.Float16: value = HalfBits.ToFloat(tensor.AsSpan<ushort>()[0]); return true;
            case DataType.BFloat16: value = BFloat16Bits.ToFloat(tensor.AsSpan<ushort>()[0]); return true;
            case DataType.Int8: value = tensor.AsSpan<sbyte>()[0]; return true;
            case DataType.UInt8: value = tensor.AsSpan<byte>()[0]; return true;
            case DataType.Int16: value = tensor.AsSpan<short>()[0]; return true;
            case DataType.UInt16: value = tensor.AsSpan<ushort>()[0]; return true;
            case DataType.Int32: value = tensor.AsSpan<int>()[0]; return true;
            case DataType.UInt32: value = tensor.AsSpan<uint>()[0]; return true;
            case DataType.Int64: value = tensor.AsSpan<long>()[0]; return true;
            case DataType.UInt64: value = tensor.AsSpan<ulong>()[0]; return true;
            default: return false;
        }
    }
}
