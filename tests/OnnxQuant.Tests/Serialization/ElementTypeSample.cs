using Google.Protobuf;
using OnnxQuant.Ir;
using OnnxQuant.Onnx.Proto;

namespace OnnxQuant.Tests.Serialization;

/// <summary>
/// One tensor of an ONNX element type, written down independently of our codecs: its bytes in ONNX's raw layout
/// (<see cref="Raw"/>, null for strings), how the spec's typed field carries the same elements
/// (<see cref="FillTyped"/>), and the element values (<see cref="Values"/>; for complex types the real and imaginary
/// components in order; null for strings). Floating-point samples hold ±0, ±∞, NaNs (signalling ones too) and
/// subnormals; 8-bit and 4-bit floats hold every code; integers hold their minimum and maximum.
/// </summary>
internal sealed record ElementTypeSample(
    DataType Type, long Count, byte[]? Raw, Action<TensorProto> FillTyped, double[]? Values, byte[][]? Strings = null)
{
    public override string ToString() => Type.ToString();

    public static ElementTypeSample For(DataType type) => type switch
    {
        DataType.Float => FromBits<uint>(type, [0x00000000u, 0x80000000u, 0x3FC00000u, 0xC0100000u, 0x7F800000u, 0xFF800000u,
                0x7FC00000u, 0xFFC00001u, 0x7F800001u, 0x00000001u, 0x807FFFFFu, 0x00800000u, 0x7F7FFFFFu, 0xFF7FFFFFu],
            b => BitConverter.GetBytes(b), (p, b) => p.FloatData.AddRange(b.Select(BitConverter.UInt32BitsToSingle)),
            b => BitConverter.UInt32BitsToSingle(b)),
        DataType.Double => FromBits<ulong>(type, [0x0UL, 0x8000000000000000UL, 0x3FF8000000000000UL, 0xC002000000000000UL,
                0x7FF0000000000000UL, 0xFFF0000000000000UL, 0x7FF8000000000000UL, 0xFFF8000000000001UL,
                0x7FF0000000000001UL, 0x1UL, 0x800FFFFFFFFFFFFFUL, 0x0010000000000000UL, 0x7FEFFFFFFFFFFFFFUL, 0xFFEFFFFFFFFFFFFFUL],
            b => BitConverter.GetBytes(b), (p, b) => p.DoubleData.AddRange(b.Select(BitConverter.UInt64BitsToDouble)),
            BitConverter.UInt64BitsToDouble),
        // 16-bit floats: the bit patterns, as unsigned integers, one per int32_data entry.
        DataType.Float16 => FromBits<ushort>(type, [(ushort)0x0000, 0x8000, 0x3C00, 0xC080, 0x7C00, 0xFC00, 0x7E00, 0xFE01, 0x7C01,
                0x0001, 0x83FF, 0x0400, 0x7BFF, 0xFBFF],
            b => BitConverter.GetBytes(b), (p, b) => p.Int32Data.AddRange(b.Select(x => (int)x)),
            b => ReferenceFloat.Float16(b)),
        DataType.BFloat16 => FromBits<ushort>(type, [(ushort)0x0000, 0x8000, 0x3FC0, 0xC010, 0x7F80, 0xFF80, 0x7FC0, 0xFFC1, 0x7F81,
                0x0001, 0x807F, 0x0080, 0x7F7F, 0xFF7F],
            b => BitConverter.GetBytes(b), (p, b) => p.Int32Data.AddRange(b.Select(x => (int)x)),
            b => ReferenceFloat.BFloat16(b)),
        DataType.Float8E4M3FN or DataType.Float8E4M3FNUZ or DataType.Float8E5M2 or DataType.Float8E5M2FNUZ or DataType.Float8E8M0 =>
            FromBits<byte>(type, Enumerable.Range(0, 256).Select(c => (byte)c).ToArray(),
                b => [b], (p, b) => p.Int32Data.AddRange(b.Select(x => (int)x)), b => ReferenceFloat.Float8(b, type)),
        // Sub-byte types: every code plus one more (an odd count, so the last byte is half used).
        DataType.Float4E2M1 => Packed(type, 4, [.. Enumerable.Range(0, 16), 0b1101], ReferenceFloat.Float4E2M1),
        DataType.Int4 => Packed(type, 4, [.. Enumerable.Range(-8, 16), -8], c => c),
        DataType.UInt4 => Packed(type, 4, [.. Enumerable.Range(0, 16), 15], c => c),
        DataType.Int2 => Packed(type, 2, [-2, -1, 0, 1, -2], c => c),
        DataType.UInt2 => Packed(type, 2, [0, 1, 2, 3, 3], c => c),
        DataType.Int8 => SignedIntegers(type, [sbyte.MinValue, -1, 0, 1, sbyte.MaxValue, 42], v => [(byte)(sbyte)v], Int32Data),
        DataType.UInt8 => UnsignedIntegers(type, [0, 1, 127, 128, byte.MaxValue], v => [(byte)v], Int32Data),
        DataType.Int16 => SignedIntegers(type, [short.MinValue, -1, 0, 1, short.MaxValue, -300], v => BitConverter.GetBytes((short)v), Int32Data),
        DataType.UInt16 => UnsignedIntegers(type, [0, 1, 32768, ushort.MaxValue, 300], v => BitConverter.GetBytes((ushort)v), Int32Data),
        DataType.Int32 => SignedIntegers(type, [int.MinValue, -1, 0, 1, int.MaxValue], v => BitConverter.GetBytes((int)v), Int32Data),
        DataType.Int64 => SignedIntegers(type, [long.MinValue, -1, 0, 1, long.MaxValue, -(1L << 40)],
            v => BitConverter.GetBytes((long)v), (p, v) => p.Int64Data.AddRange(v.Select(x => (long)x))),
        // Unsigned 32- and 64-bit integers both travel in uint64_data.
        DataType.UInt32 => UnsignedIntegers(type, [0, 1, 1UL << 31, uint.MaxValue], v => BitConverter.GetBytes((uint)v), Uint64Data),
        DataType.UInt64 => UnsignedIntegers(type, [0, 1, 1UL << 63, ulong.MaxValue], v => BitConverter.GetBytes((ulong)v), Uint64Data),
        DataType.Bool => UnsignedIntegers(type, [0, 1, 1, 0], v => [(byte)v], Int32Data),
        // Complex numbers: (real, imaginary) pairs in float_data / double_data.
        DataType.Complex64 => FromBits<uint>(type, [0x3FC00000u, 0xC0100000u, 0x7FC00000u, 0x7F800000u, 0x80000000u, 0x00000001u],
            b => BitConverter.GetBytes(b), (p, b) => p.FloatData.AddRange(b.Select(BitConverter.UInt32BitsToSingle)),
            b => BitConverter.UInt32BitsToSingle(b), componentsPerElement: 2),
        DataType.Complex128 => FromBits<ulong>(type, [0x3FF8000000000000UL, 0xC002000000000000UL, 0x7FF8000000000000UL,
                0xFFF0000000000000UL, 0x8000000000000000UL, 0x1UL],
            b => BitConverter.GetBytes(b), (p, b) => p.DoubleData.AddRange(b.Select(BitConverter.UInt64BitsToDouble)),
            BitConverter.UInt64BitsToDouble, componentsPerElement: 2),
        DataType.String => StringSample(["", "a", "héllo wörld", "日本語", new string('x', 300)]),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not an ONNX element type."),
    };

    private static void Int32Data(TensorProto p, ulong[] v) => p.Int32Data.AddRange(v.Select(x => (int)(long)x));
    private static void Uint64Data(TensorProto p, ulong[] v) => p.Uint64Data.AddRange(v);

    private static ElementTypeSample FromBits<T>(DataType type, T[] bits, Func<T, byte[]> toBytes, Action<TensorProto, T[]> fill,
        Func<T, double> value, int componentsPerElement = 1) =>
        new(type, bits.Length / componentsPerElement, bits.SelectMany(toBytes).ToArray(), p => fill(p, bits), bits.Select(value).ToArray());

    /// <summary>Signed values are passed as their two's-complement ulong (e.g. (ulong)-1L).</summary>
    private static ElementTypeSample SignedIntegers(DataType type, long[] values, Func<ulong, byte[]> toBytes, Action<TensorProto, ulong[]> fill) =>
        UnsignedIntegers(type, values.Select(v => (ulong)v).ToArray(), toBytes, fill, signed: true);

    private static ElementTypeSample UnsignedIntegers(DataType type, ulong[] values, Func<ulong, byte[]> toBytes, Action<TensorProto, ulong[]> fill,
        bool signed = false) =>
        new(type, values.Length, values.SelectMany(toBytes).ToArray(), p => fill(p, values),
            values.Select(v => signed ? (double)(long)v : (double)v).ToArray());

    /// <summary>Packs codes low bits first (ONNX docs/technical/int4.md); typed: one packed byte per int32_data entry.</summary>
    private static ElementTypeSample Packed(DataType type, int bits, int[] codes, Func<int, double> value)
    {
        var bytes = new byte[(codes.Length * bits + 7) / 8];
        for (int i = 0; i < codes.Length; i++)
            bytes[i * bits / 8] |= (byte)((codes[i] & ((1 << bits) - 1)) << (i * bits % 8));
        return new(type, codes.Length, bytes, p => p.Int32Data.AddRange(bytes.Select(b => (int)b)), codes.Select(value).ToArray());
    }

    private static ElementTypeSample StringSample(string[] strings)
    {
        byte[][] utf8 = strings.Select(System.Text.Encoding.UTF8.GetBytes).ToArray();
        return new(DataType.String, utf8.Length, null, p => p.StringData.AddRange(utf8.Select(ByteString.CopyFrom)), null, utf8);
    }
}
