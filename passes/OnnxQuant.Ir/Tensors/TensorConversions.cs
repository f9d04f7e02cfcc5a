using System.Buffers.Binary;
using OnnxQuant.Ir.Numerics;

namespace OnnxQuant.Ir;

/// <summary>
/// Reading any numeric tensor as float/double/int64, and building tensors of any numeric element type from floats
/// (ONNX rounding: half to even; saturation to the target's range, as ONNX's Cast with saturate=1).
/// </summary>
public static class TensorConversions
{
    /// <summary>Element values as doubles (complex types are refused; bool as 0/1).</summary>
    public static double[] ToDoubleArray(this Tensor tensor)
    {
        var raw = tensor.RawData.Span;
        long n = tensor.ElementCount;
        var result = new double[n];
        var type = tensor.ElementType;
        switch (type)
        {
            case DataType.Float: for (int i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]); break;
            case DataType.Double: for (int i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadDoubleLittleEndian(raw[(i * 8)..]); break;
            case DataType.Float16: for (int i = 0; i < n; i++) result[i] = HalfBits.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(raw[(i * 2)..])); break;
            case DataType.BFloat16: for (int i = 0; i < n; i++) result[i] = BFloat16Bits.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(raw[(i * 2)..])); break;
            case DataType.Float8E4M3FN or DataType.Float8E4M3FNUZ or DataType.Float8E5M2 or DataType.Float8E5M2FNUZ or DataType.Float8E8M0:
                for (int i = 0; i < n; i++) result[i] = Float8.Decode(raw[i], type);
                break;
            case DataType.Float4E2M1:
                for (int i = 0; i < n; i++) result[i] = Float4E2M1.Decode((byte)((raw[i / 2] >> (4 * (i & 1))) & 0xF));
                break;
            case DataType.Int4 or DataType.UInt4 or DataType.Int2 or DataType.UInt2:
                var codes = new int[n];
                SubBytePacking.Unpack(raw, type.BitWidth(), type.IsSigned(), codes);
                for (int i = 0; i < n; i++) result[i] = codes[i];
                break;
            case DataType.Int8: for (int i = 0; i < n; i++) result[i] = (sbyte)raw[i]; break;
            case DataType.UInt8 or DataType.Bool: for (int i = 0; i < n; i++) result[i] = raw[i]; break;
            case DataType.Int16: for (int i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadInt16LittleEndian(raw[(i * 2)..]); break;
            case DataType.UInt16: for (int i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadUInt16LittleEndian(raw[(i * 2)..]); break;
            case DataType.Int32: for (int i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadInt32LittleEndian(raw[(i * 4)..]); break;
            case DataType.UInt32: for (int i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadUInt32LittleEndian(raw[(i * 4)..]); break;
            case DataType.Int64: for (int i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadInt64LittleEndian(raw[(i * 8)..]); break;
            case DataType.UInt64: for (int i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadUInt64LittleEndian(raw[(i * 8)..]); break;
            default: throw new NotSupportedException($"Cannot read a {type.OnnxName()} tensor as numbers.");
        }
        return result;
    }

    public static float[] ToFloatArray(this Tensor tensor)
    {
        if (tensor.ElementType == DataType.Float) return tensor.AsSpan<float>().ToArray();
        return Array.ConvertAll(tensor.ToDoubleArray(), d => (float)d);
    }

    /// <summary>Integer (or bool) elements as int64; refuses floating-point tensors rather than truncating silently.</summary>
    public static long[] ToInt64Array(this Tensor tensor)
    {
        var type = tensor.ElementType;
        if (type == DataType.Int64) return tensor.AsSpan<long>().ToArray();
        if (type == DataType.UInt64)
        {
            var u = tensor.AsSpan<ulong>();
            var r = new long[u.Length];
            for (int i = 0; i < u.Length; i++) r[i] = checked((long)u[i]);
            return r;
        }
        if (!type.IsInteger() && type != DataType.Bool)
            throw new InvalidOperationException($"A {type.OnnxName()} tensor does not hold integers.");
        return Array.ConvertAll(tensor.ToDoubleArray(), d => (long)d);
    }

    /// <summary>
    /// A tensor of <paramref name="type"/> holding <paramref name="values"/>: floating types round to nearest even
    /// (saturating for float8 unless told otherwise); integer types round half to even and clamp to their range.
    /// </summary>
    public static Tensor FromDoubles(DataType type, ReadOnlySpan<double> values, long[] dims, bool saturate = true)
    {
        int n = values.Length;
        byte[] bytes = new byte[type.ByteLength(n)];
        switch (type)
        {
            case DataType.Float: for (int i = 0; i < n; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), (float)values[i]); break;
            case DataType.Double: for (int i = 0; i < n; i++) BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(i * 8), values[i]); break;
            case DataType.Float16: for (int i = 0; i < n; i++) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), HalfBits.FromFloat((float)values[i])); break;
            case DataType.BFloat16: for (int i = 0; i < n; i++) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), BFloat16Bits.FromFloat((float)values[i])); break;
            case DataType.Float8E4M3FN or DataType.Float8E4M3FNUZ or DataType.Float8E5M2 or DataType.Float8E5M2FNUZ or DataType.Float8E8M0:
                for (int i = 0; i < n; i++) bytes[i] = Float8.Encode((float)values[i], type, saturate);
                break;
            case DataType.Float4E2M1:
                for (int i = 0; i < n; i++) bytes[i / 2] |= (byte)(Float4E2M1.Encode((float)values[i], saturate) << (4 * (i & 1)));
                break;
            case DataType.Int4 or DataType.UInt4 or DataType.Int2 or DataType.UInt2:
                var codes = new int[n];
                for (int i = 0; i < n; i++) codes[i] = (int)RoundClamp(values[i], type);
                SubBytePacking.Pack(codes, type.BitWidth()).CopyTo(bytes, 0);
                break;
            case DataType.Bool: for (int i = 0; i < n; i++) bytes[i] = values[i] != 0 ? (byte)1 : (byte)0; break;
            case DataType.Int8: for (int i = 0; i < n; i++) bytes[i] = (byte)(sbyte)RoundClamp(values[i], type); break;
            case DataType.UInt8: for (int i = 0; i < n; i++) bytes[i] = (byte)RoundClamp(values[i], type); break;
            case DataType.Int16: for (int i = 0; i < n; i++) BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(i * 2), (short)RoundClamp(values[i], type)); break;
            case DataType.UInt16: for (int i = 0; i < n; i++) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), (ushort)RoundClamp(values[i], type)); break;
            case DataType.Int32: for (int i = 0; i < n; i++) BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(i * 4), (int)RoundClamp(values[i], type)); break;
            case DataType.UInt32: for (int i = 0; i < n; i++) BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i * 4), (uint)RoundClamp(values[i], type)); break;
            // The clamp's upper bounds are 2^63 and 2^64 as doubles; .NET's double-to-integer conversions saturate
            // (since .NET 9), so they land on long.MaxValue and ulong.MaxValue.
            case DataType.Int64: for (int i = 0; i < n; i++) BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * 8), (long)RoundClamp(values[i], type)); break;
            case DataType.UInt64: for (int i = 0; i < n; i++) BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * 8), (ulong)RoundClamp(values[i], type)); break;
            default: throw new NotSupportedException($"Cannot build a {type.OnnxName()} tensor from numbers.");
        }
        return Tensor.FromRaw(type, dims, bytes);
    }

    public static Tensor FromFloats(DataType type, ReadOnlySpan<float> values, long[] dims, bool saturate = true)
    {
        if (type == DataType.Float)
        {
            // Straight to bytes, without a double copy (twice the weight's size: a 32000×2560 table is 655 MB). The
            // round trip through double is kept for NaNs only, whose payload it may change (a signaling NaN comes
            // back quiet), so the bytes are those of the double path.
            byte[] bytes = new byte[DataType.Float.ByteLength(values.Length)];
            for (int i = 0; i < values.Length; i++)
            {
                float v = values[i];
                if (float.IsNaN(v)) v = (float)(double)v;
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), v);
            }
            return Tensor.FromRaw(type, dims, bytes);
        }
        var d = new double[values.Length];
        for (int i = 0; i < d.Length; i++) d[i] = values[i];
        return FromDoubles(type, d, dims, saturate);
    }

    /// <summary>The tensor converted to another numeric element type (same rules as <see cref="FromDoubles"/>).</summary>
    public static Tensor CastTo(this Tensor tensor, DataType type, bool saturate = true) =>
        tensor.ElementType == type ? tensor : FromDoubles(type, tensor.ToDoubleArray(), tensor.Dims.ToArray(), saturate);

    /// <summary>Smallest and largest value of an integer type.</summary>
    public static (double Min, double Max) IntegerRange(this DataType type) => type switch
    {
        DataType.Int2 => (-2, 1),
        DataType.UInt2 => (0, 3),
        DataType.Int4 => (-8, 7),
        DataType.UInt4 => (0, 15),
        DataType.Int8 => (sbyte.MinValue, sbyte.MaxValue),
        DataType.UInt8 => (0, byte.MaxValue),
        DataType.Int16 => (short.MinValue, short.MaxValue),
        DataType.UInt16 => (0, ushort.MaxValue),
        DataType.Int32 => (int.MinValue, int.MaxValue),
        DataType.UInt32 => (0, uint.MaxValue),
        DataType.Int64 => (long.MinValue, long.MaxValue),
        DataType.UInt64 => (0, ulong.MaxValue),
        _ => throw new ArgumentOutOfRangeException(nameof(type), $"{type.OnnxName()} is not an integer type."),
    };

    /// <summary>Round half to even, then clamp (NaN becomes 0), as ONNX's QuantizeLinear/Cast saturation.</summary>
    private static double RoundClamp(double value, DataType type)
    {
        if (double.IsNaN(value)) return 0;
        var (min, max) = type.IntegerRange();
        double r = Math.Round(value, MidpointRounding.ToEven);
        return Math.Clamp(r, min, max);
    }
}
