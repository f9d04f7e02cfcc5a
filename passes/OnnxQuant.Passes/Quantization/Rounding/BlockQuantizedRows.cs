namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// A weight quantized row by row: <see cref="Rows"/> rows (output channels) of <see cref="Columns"/> weights (the
/// reduction axis K), each row cut into <see cref="BlockCount"/> blocks of <see cref="BlockSize"/> (the last may be
/// short). Dequantized weight: w[r, k] = (Codes[r·K + k] − ZeroPoints[r·B + k/bs]) · Scales[r·B + k/bs].
/// </summary>
/// <param name="Codes">Unsigned codes 0 .. 2^bits − 1, row-major [Rows, Columns], no padding.</param>
/// <param name="Scales">[Rows, BlockCount], already rounded to the float type they are stored in.</param>
/// <param name="ZeroPoints">[Rows, BlockCount]; all 2^(bits−1) when symmetric.</param>
public sealed record BlockQuantizedRows(
    int Rows, int Columns, int Bits, int BlockSize, bool Symmetric, byte[] Codes, float[] Scales, int[] ZeroPoints)
{
    public int BlockCount => (Columns + BlockSize - 1) / BlockSize;

    /// <summary>The zero point MatMulNBits and GatherBlockQuantized assume when none is given: 2^(bits−1).</summary>
    public int DefaultZeroPoint => 1 << (Bits - 1);

    /// <summary>Dequantized weight at (row, column), as ORT computes it in float.</summary>
    public float Dequantize(int row, int column)
    {
        int b = row * BlockCount + column / BlockSize;
        return (Codes[(long)row * Columns + column] - ZeroPoints[b]) * Scales[b];
    }
}
