namespace OnnxQuant.Ir.Numerics;

/// <summary>
/// ONNX's packed layout for 2- and 4-bit elements (INT4/UINT4/FLOAT4E2M1, INT2/UINT2): elements fill each byte from
/// its least-significant bits up (for 4 bits, <c>byte = second &lt;&lt; 4 | first</c>), and the unused high bits of
/// the last byte are zero. Signed values are stored as two's complement in their field.
/// Source: ONNX docs/technical/int4.md and int2.md, "Packing and Unpacking".
/// </summary>
public static class SubBytePacking
{
    /// <summary>Bytes that <paramref name="count"/> packed elements of <paramref name="bits"/> bits take: ceil(count·bits/8).</summary>
    public static long PackedLength(long count, int bits)
    {
        ValidateBits(bits);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return checked(count * bits + 7) / 8;
    }

    /// <summary>
    /// Packs <paramref name="values"/> into <paramref name="bits"/>-bit fields. Each value must fit the field either
    /// as unsigned (0 .. 2^bits−1) or as signed (−2^(bits−1) .. 2^(bits−1)−1); nothing is clamped or rounded.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A value fits neither range, or <paramref name="bits"/> is not 2 or 4.</exception>
    public static byte[] Pack(ReadOnlySpan<int> values, int bits)
    {
        ValidateBits(bits);
        int perByte = 8 / bits;
        int mask = (1 << bits) - 1;
        int min = -(1 << (bits - 1));
        int max = mask;

        var packed = new byte[PackedLength(values.Length, bits)];
        for (int i = 0; i < values.Length; i++)
        {
            int value = values[i];
            if (value < min || value > max)
            {
                throw new ArgumentOutOfRangeException(nameof(values), value,
                    $"Element {i} is {value}, which does not fit in {bits} bits " +
                    $"(signed range [{min}, {(1 << (bits - 1)) - 1}], unsigned range [0, {max}]).");
            }

            packed[i / perByte] |= (byte)((value & mask) << (i % perByte * bits));
        }

        return packed;
    }

    /// <summary>
    /// Unpacks <c>destination.Length</c> elements of <paramref name="bits"/> bits from <paramref name="packed"/>,
    /// sign-extending them when <paramref name="signed"/>. Bytes past the ones those elements need are ignored.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="packed"/> is too short for <c>destination.Length</c> elements.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bits"/> is not 2 or 4.</exception>
    public static void Unpack(ReadOnlySpan<byte> packed, int bits, bool signed, Span<int> destination)
    {
        long needed = PackedLength(destination.Length, bits);
        if (packed.Length < needed)
        {
            throw new ArgumentException(
                $"{destination.Length} elements of {bits} bits need {needed} packed bytes, but only {packed.Length} were given.",
                nameof(packed));
        }

        int perByte = 8 / bits;
        int mask = (1 << bits) - 1;
        int unusedHighBits = 32 - bits;
        for (int i = 0; i < destination.Length; i++)
        {
            int field = (packed[i / perByte] >> (i % perByte * bits)) & mask;
            destination[i] = signed ? (field << unusedHighBits) >> unusedHighBits : field;
        }
    }

    private static void ValidateBits(int bits)
    {
        if (bits is not (2 or 4))
        {
            throw new ArgumentOutOfRangeException(nameof(bits), bits,
                "ONNX packs only 2-bit (INT2/UINT2) and 4-bit (INT4/UINT4/FLOAT4E2M1) elements.");
        }
    }
}
