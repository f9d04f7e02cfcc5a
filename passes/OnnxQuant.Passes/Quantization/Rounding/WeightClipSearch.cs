namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// Clip search for weight scales (the range search of GPTQ's reference code, <c>--mse</c>, and AWQ's auto-clip,
/// ALGORITHMS.md §2): each block's range is shrunk on a grid, range·f with f = 1, 1 − 1/40, …, 1 − <see cref="Steps"/>/40
/// (down to 0.5), the block rounded to nearest on each candidate grid, and the candidate with the least layer-output
/// error eᵀ·H_bb·e kept, e the block's rounding error and H_bb the block's diagonal sub-block of the Hessian of the
/// layer input (XᵀX; the identity, i.e. the weight MSE, when none is calibrated). Rounding to nearest with the full
/// range wastes codes on a block's rare largest weights; at 2–4 bits the smaller step for the others is worth the
/// clipped extremes. Blocks longer than 128 columns (per-channel grids) sum the error over their 128-column
/// sub-blocks (a block-diagonal H, so a row costs O(K·128) per candidate, not O(K²)). f = 1 is always a candidate and
/// wins ties, so the search never picks a grid with a larger error than the unclipped one. Not used with a per-tensor
/// grid (one scale for every row).
/// </summary>
public static class WeightClipSearch
{
    /// <summary>Candidates below f = 1: f = 1 − i/40 for i = 1 … 20.</summary>
    public const int Steps = 20;

    private const double StepFraction = 1.0 / 40;
    private const int SubBlock = 128;

    /// <summary>The scales of <paramref name="rows"/> ([<paramref name="rowCount"/>, <paramref name="columns"/>]) on
    /// <paramref name="grid"/>, each block's range chosen by the search.</summary>
    /// <param name="hessian">XᵀX (or any positive multiple) of the layer input, [columns, columns] row-major; null:
    /// the identity (weight MSE).</param>
    public static BlockScales Search(ReadOnlySpan<float> rows, int rowCount, int columns, WeightGrid grid, double[]? hessian)
    {
        if (grid.PerTensor) return grid.ScalesOf(rows, rowCount, columns);
        if (rows.Length != (long)rowCount * columns)
            throw new ArgumentException($"{rows.Length} weights are not {rowCount}×{columns}.", nameof(rows));
        if (hessian is not null && hessian.Length != (long)columns * columns)
            throw new ArgumentException($"a {columns}-column weight needs a {columns}×{columns} Hessian, not {hessian.Length} entries.", nameof(hessian));
        int blocks = grid.BlockCount(columns), blockSize = grid.BlockSize;
        var scales = new float[rowCount * blocks];
        var zeros = new int[scales.Length];
        var weights = rows.ToArray();
        Parallel.For(0, rowCount, r =>
        {
            var error = new double[Math.Min(blockSize, columns)];
            for (int b = 0; b < blocks; b++)
            {
                int start = b * blockSize, length = Math.Min(columns, start + blockSize) - start;
                var values = weights.AsSpan(r * columns + start, length);
                (scales[r * blocks + b], zeros[r * blocks + b]) = BestGrid(values, start, columns, grid, hessian, error.AsSpan(0, length));
            }
        });
        return new BlockScales(scales, zeros);
    }

    private static (float Scale, int ZeroPoint) BestGrid(ReadOnlySpan<float> values, int start, int columns, WeightGrid grid, double[]? h, Span<double> error)
    {
        float min = 0, max = 0, extreme = 0;
        foreach (float w in values)
        {
            min = Math.Min(min, w);
            max = Math.Max(max, w);
            if (Math.Abs(w) > Math.Abs(extreme)) extreme = w;
        }
        var best = grid.ScaleFor(min, max, extreme);
        if (extreme == 0) return best;
        double bestError = Error(values, best, start, columns, grid, h, error);
        for (int i = 1; i <= Steps; i++)
        {
            float f = (float)(1 - i * StepFraction);
            var candidate = grid.ScaleFor(min * f, max * f, extreme * f);
            if (!(candidate.Scale > 0)) continue;
            double e = Error(values, candidate, start, columns, grid, h, error);
            if (e < bestError)
            {
                bestError = e;
                best = candidate;
            }
        }
        return best;
    }

    /// <summary>eᵀ·H_bb·e summed over the 128-column sub-blocks of the block (Σe² without H).</summary>
    private static double Error(ReadOnlySpan<float> values, (float Scale, int ZeroPoint) q, int start, int columns, WeightGrid grid, double[]? h, Span<double> error)
    {
        for (int j = 0; j < values.Length; j++)
            error[j] = values[j] - (double)(QdqMath.Quantize(values[j], q.Scale, q.ZeroPoint, grid.MinCode, grid.MaxCode) - q.ZeroPoint) * q.Scale;
        double total = 0;
        if (h is null)
        {
            foreach (double e in error) total += e * e;
            return total;
        }
        for (int sub = 0; sub < values.Length; sub += SubBlock)
        {
            int end = Math.Min(values.Length, sub + SubBlock);
            for (int i = sub; i < end; i++)
            {
                if (error[i] == 0) continue;
                var hRow = h.AsSpan((start + i) * columns + start, end); // H[start + i, start … start + end)
                double dot = 0;
                for (int j = sub; j < end; j++) dot += hRow[j] * error[j];
                total += error[i] * dot;
            }
        }
        return total;
    }
}
