using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Calibration;

/// <summary>
/// The quantized type a range is mapped to: an integer type (int8/uint8/int16/uint16/int4/uint4/int2/uint2), or an
/// 8-bit float type, with its code range.
/// </summary>
/// <remarks>
/// Integer code ranges for b bits: signed [−2^(b−1), 2^(b−1)−1], symmetric signed [−(2^(b−1)−1), 2^(b−1)−1] (so that
/// −x and x have codes of equal magnitude: int8 [−127, 127]), unsigned [0, 2^b−1]. Reduced range drops one bit
/// (b−1 bits: int8 [−64, 63], symmetric [−63, 63], uint8 [0, 127]), the usual guard against 16-bit accumulator
/// overflow of u8×s8 kernels without VNNI. 8-bit float targets are always symmetric with zero point 0 and ignore
/// <see cref="Symmetric"/> and <see cref="ReducedRange"/>. Emulated widths (<see cref="EmulatedBits"/>) give an
/// integer type the code range of b bits with the same signedness rules.
/// </remarks>
public sealed record QuantTarget
{
    public QuantTarget(DataType type, bool symmetric = false, bool reducedRange = false, int? emulatedBits = null)
    {
        if (!IsSupported(type))
            throw new OnnxQuantException($"Cannot quantize to {type.OnnxName()}: supported targets are int8, uint8, int16, uint16, int4, uint4, int2, uint2 and the float8 types.");
        bool isFloat8 = type is DataType.Float8E4M3FN or DataType.Float8E4M3FNUZ or DataType.Float8E5M2 or DataType.Float8E5M2FNUZ;
        if (emulatedBits is { } b && (isFloat8 || reducedRange || b < 2 || b > type.BitWidth()))
            throw new OnnxQuantException($"Cannot emulate {b}-bit codes in {type.OnnxName()}{(reducedRange ? " with reduced range" : "")}: " +
                $"emulated widths are 2..{(isFloat8 ? 0 : type.BitWidth())} bits of an integer type, without reduced range.");
        Type = type;
        Symmetric = symmetric;
        ReducedRange = reducedRange;
        EmulatedBits = emulatedBits;
    }

    public DataType Type { get; }
    public bool Symmetric { get; }
    public bool ReducedRange { get; }

    /// <summary>
    /// Codes of fewer bits than the storage type (e.g. 4-bit codes stored in uint8: [0, 15]); null: the type's own
    /// width. The model clips to this code range before QuantizeLinear, so only 2^b codes ever occur.
    /// </summary>
    public int? EmulatedBits { get; }

    public bool IsFloat8 => Type is DataType.Float8E4M3FN or DataType.Float8E4M3FNUZ or DataType.Float8E5M2 or DataType.Float8E5M2FNUZ;

    /// <summary>Bits of the integer code range (one less with reduced range).</summary>
    public int Bits => EmulatedBits ?? Type.BitWidth() - (ReducedRange && !IsFloat8 ? 1 : 0);

    /// <summary>Smallest and largest integer code (see the remarks); for float8, ± the largest finite value.</summary>
    public (long Min, long Max) CodeRange
    {
        get
        {
            if (IsFloat8)
            {
                long m = (long)Float8Max(Type);
                return (-m, m);
            }
            int b = Bits;
            if (!Type.IsSigned()) return (0, (1L << b) - 1);
            long max = (1L << (b - 1)) - 1;
            return (Symmetric ? -max : -max - 1, max);
        }
    }

    /// <summary>Largest finite value of an 8-bit float type (E4M3FN 448, E4M3FNUZ 240, E5M2 and E5M2FNUZ 57344).</summary>
    public static double Float8Max(DataType type) => type switch
    {
        DataType.Float8E4M3FN => 448,
        DataType.Float8E4M3FNUZ => 240,
        DataType.Float8E5M2 or DataType.Float8E5M2FNUZ => 57344,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not an 8-bit float type."),
    };

    public static bool IsSupported(DataType type) => type is DataType.Int8 or DataType.UInt8 or DataType.Int16 or DataType.UInt16
        or DataType.Int4 or DataType.UInt4 or DataType.Int2 or DataType.UInt2
        or DataType.Float8E4M3FN or DataType.Float8E4M3FNUZ or DataType.Float8E5M2 or DataType.Float8E5M2FNUZ;

    public override string ToString() =>
        Type.OnnxName() + (IsFloat8 ? "" : Symmetric ? " symmetric" : " asymmetric") + (ReducedRange && !IsFloat8 ? " reduced" : "")
        + (EmulatedBits is { } b ? $" ({b}-bit codes)" : "");
}
