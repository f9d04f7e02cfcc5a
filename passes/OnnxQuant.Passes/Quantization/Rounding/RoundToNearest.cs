using OnnxQuant.Passes.LinearLayers;

namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// Round-to-nearest: each block's scale and zero point from its own values (<see cref="WeightGrid.ScaleFor"/>), or one
/// pair for the whole tensor, then every weight independently to the nearest code, half to even and saturated, as
/// QuantizeLinear rounds (<see cref="QdqMath.Quantize"/>). Scales are rounded to their stored type first, so the stored
/// model and this arithmetic agree. Reads no statistics.
/// </summary>
public sealed class RoundToNearest : IWeightRounder
{
    public string Name => "rtn";

    public BlockQuantizedRows Round(ReadOnlySpan<float> rows, int rowCount, int columns, WeightGrid grid, LinearLayer? layer)
    {
        if (grid.Bits is < 2 or > 8) throw new ArgumentOutOfRangeException(nameof(grid), grid.Bits, "bits must be 2..8.");
        if (rows.Length != (long)rowCount * columns)
            throw new ArgumentException($"{rows.Length} weights are not {rowCount}×{columns}.", nameof(rows));
        int blockSize = grid.BlockSize;
        int blocks = (columns + blockSize - 1) / blockSize;
        var codes = new byte[rows.Length];
        var scales = new float[rowCount * blocks];
        var zeros = new int[rowCount * blocks];
        (float, int) whole = grid.PerTensor ? Params(rows, grid) : default;
        for (int r = 0; r < rowCount; r++)
        {
            for (int b = 0; b < blocks; b++)
            {
                int start = b * blockSize, end = Math.Min(columns, start + blockSize);
                var block = rows.Slice(r * columns + start, end - start);
                var (scale, zero) = grid.PerTensor ? whole : Params(block, grid);
                scales[r * blocks + b] = scale;
                zeros[r * blocks + b] = zero;
                for (int k = 0; k < block.Length; k++)
                    codes[r * columns + start + k] = (byte)QdqMath.Quantize(block[k], scale, zero, grid.MinCode, grid.MaxCode);
            }
        }
        return new BlockQuantizedRows(rowCount, columns, grid.Bits, blockSize, grid.Symmetric, codes, scales, zeros);
    }

    private static (float Scale, int ZeroPoint) Params(ReadOnlySpan<float> values, WeightGrid grid)
    {
        float min = 0, max = 0, extreme = 0;
        foreach (float w in values)
        {
            min = Math.Min(min, w);
            max = Math.Max(max, w);
            if (Math.Abs(w) > Math.Abs(extreme)) extreme = w;
        }
        return grid.ScaleFor(min, max, extreme);
    }
}
