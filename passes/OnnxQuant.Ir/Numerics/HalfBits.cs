namespace OnnxQuant.Ir.Numerics;

/// <summary>float32 ↔ IEEE binary16 bits (ONNX <c>FLOAT16</c>), via <see cref="Half"/> (round to nearest even).</summary>
public static class HalfBits
{
    public static ushort FromFloat(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    public static float ToFloat(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);
}
