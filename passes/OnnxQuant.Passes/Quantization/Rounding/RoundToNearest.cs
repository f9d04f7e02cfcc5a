using OnnxQuant.Passes.LinearLayers;

namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// Round-to-nearest: each block's scale and zero point from its own values (<see cref="WeightGrid.ScalesOf"/>), or one
/// pair for the whole tensor, unless given; then every weight independently to the nearest code, half to even and
/// saturated, as QuantizeLinear rounds (<see cref="QdqMath.Quantize"/>). Scales are rounded to their stored type first,
/// so the stored model and this arithmetic agree. Reads no statistics.
/// </summary>
public sealed class RoundToNearest : IWeightRounder
{
    public string Name => "rtn";

    public BlockQuantizedRows Round(ReadOnlySpan<float> rows, int rowCount, int columns, WeightGrid grid, LinearLayer? layer, BlockScales? scales = null)
    {
        if (grid.Bits is < 2 or > 8) throw new ArgumentOutOfRangeException(nameof(grid), grid.Bits, "bits must be 2..8.");
        if (rows.Length != (long)rowCount * columns)
            throw new ArgumentException($"{rows.Length} weights are not {rowCount}×{columns}.", nameof(rows));
        int blockSize = grid.BlockSize, blocks = grid.BlockCount(columns);
        scales ??= grid.ScalesOf(rows, rowCount, columns);
        if (scales.Scales.Length != rowCount * blocks || scales.ZeroPoints.Length != scales.Scales.Length)
            throw new ArgumentException($"{scales.Scales.Length} scales for {rowCount}×{blocks} blocks.", nameof(scales));
        var codes = new byte[rows.Length];
        for (int r = 0; r < rowCount; r++)
            for (int b = 0; b < blocks; b++)
            {
                int start = b * blockSize, end = Math.Min(columns, start + blockSize);
                float scale = scales.Scales[r * blocks + b];
                int zero = scales.ZeroPoints[r * blocks + b];
                for (int k = start; k < end; k++)
                    codes[r * columns + k] = (byte)QdqMath.Quantize(rows[r * columns + k], scale, zero, grid.MinCode, grid.MaxCode);
            }
        return new BlockQuantizedRows(rowCount, columns, grid.Bits, blockSize, grid.Symmetric, codes, scales.Scales, scales.ZeroPoints);
    }
}
