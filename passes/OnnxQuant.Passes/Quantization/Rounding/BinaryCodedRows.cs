namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// A weight in binary coding (BCQ), row by row: each block of <see cref="BlockSize"/> weights along a row (one output
/// channel) has an offset c and <see cref="Planes"/> scales α₁ ≥ … ≥ α_p ≥ 0, and each weight a pattern of signs
/// b_i ∈ {−1, +1}: w = c + Σᵢ αᵢ·bᵢ. <see cref="Patterns"/> holds bit i set where b_i = +1.
/// </summary>
/// <param name="Patterns">[Rows, Columns] row-major, values 0 … 2^Planes − 1.</param>
/// <param name="Alphas">[Rows, BlockCount, Planes], already rounded to the float type they are stored in.</param>
/// <param name="Offsets">[Rows, BlockCount], already rounded to the stored float type.</param>
public sealed record BinaryCodedRows(int Rows, int Columns, int Planes, int BlockSize, byte[] Patterns, float[] Alphas, float[] Offsets)
{
    public int BlockCount => (Columns + BlockSize - 1) / BlockSize;

    /// <summary>The weight at (row, column): c + Σᵢ αᵢ·(±1), summed in float in plane order as the export does.</summary>
    public float Dequantize(int row, int column)
    {
        int b = row * BlockCount + column / BlockSize;
        int pattern = Patterns[(long)row * Columns + column];
        float value = Offsets[b];
        for (int i = 0; i < Planes; i++)
            value += ((pattern >> i) & 1) != 0 ? Alphas[b * Planes + i] : -Alphas[b * Planes + i];
        return value;
    }
}
