namespace OnnxQuant.Ir;

/// <summary>Facts about element types: storage width, naming and families.</summary>
public static class DataTypeInfo
{
    /// <summary>Bits one element occupies in ONNX's packed <c>raw_data</c> layout; 0 for strings (variable length).</summary>
    public static int BitWidth(this DataType type) => type switch
    {
        DataType.Bool or DataType.UInt8 or DataType.Int8 => 8,
        DataType.Float8E4M3FN or DataType.Float8E4M3FNUZ or DataType.Float8E5M2 or DataType.Float8E5M2FNUZ
            or DataType.Float8E8M0 => 8,
        DataType.UInt16 or DataType.Int16 or DataType.Float16 or DataType.BFloat16 => 16,
        DataType.Float or DataType.Int32 or DataType.UInt32 => 32,
        DataType.Double or DataType.Int64 or DataType.UInt64 or DataType.Complex64 => 64,
        DataType.Complex128 => 128,
        DataType.UInt4 or DataType.Int4 or DataType.Float4E2M1 => 4,
        DataType.UInt2 or DataType.Int2 => 2,
        DataType.String => 0,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, $"Unknown ONNX element type {(int)type}."),
    };

    /// <summary>Bytes that <paramref name="elementCount"/> elements take in packed raw form (sub-byte types round up).</summary>
    public static long ByteLength(this DataType type, long elementCount)
    {
        int bits = type.BitWidth();
        if (bits == 0) throw new InvalidOperationException("String tensors have no fixed byte length.");
        return checked((elementCount * bits + 7) / 8);
    }

    /// <summary>True for the known ONNX element types (used to reject corrupt files with a clear message).</summary>
    public static bool IsDefined(int value) => value >= 1 && value <= 26;

    public static bool IsFloatingPoint(this DataType type) => type is DataType.Float or DataType.Double
        or DataType.Float16 or DataType.BFloat16 or DataType.Float8E4M3FN or DataType.Float8E4M3FNUZ
        or DataType.Float8E5M2 or DataType.Float8E5M2FNUZ or DataType.Float8E8M0 or DataType.Float4E2M1;

    public static bool IsInteger(this DataType type) => type is DataType.Int8 or DataType.UInt8 or DataType.Int16
        or DataType.UInt16 or DataType.Int32 or DataType.UInt32 or DataType.Int64 or DataType.UInt64
        or DataType.Int4 or DataType.UInt4 or DataType.Int2 or DataType.UInt2;

    public static bool IsSigned(this DataType type) => type is DataType.Int8 or DataType.Int16 or DataType.Int32
        or DataType.Int64 or DataType.Int4 or DataType.Int2;

    public static bool IsComplex(this DataType type) => type is DataType.Complex64 or DataType.Complex128;

    /// <summary>ONNX's spelling (<c>float</c>, <c>int4</c>, <c>float8e4m3fn</c> …), as used in messages and <c>inspect</c>.</summary>
    public static string OnnxName(this DataType type) => type switch
    {
        DataType.Float => "float",
        DataType.Double => "double",
        DataType.Float16 => "float16",
        DataType.BFloat16 => "bfloat16",
        _ => type.ToString().ToLowerInvariant(),
    };
}
