using System.Numerics;
using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Numerics;

namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers", 2022;
/// ALGORITHMS.md §4): rounds a layer's weight column by column (columns are the reduction axis K) and moves each
/// column's rounding error onto the columns not yet rounded, so as to minimize the layer output error
/// tr((W − Ŵ) H (W − Ŵ)ᵀ) with H = 2·XᵀX/n the Hessian of the layer input X (rows of W are output channels here).
/// <list type="bullet">
/// <item>Dead inputs (H_ii = 0, never non-zero in calibration): the weight column is zeroed and H_ii set to 1.</item>
/// <item>Damping: Damp · mean(diag H) is added to the diagonal, then U with H⁻¹ = UᵀU (<see cref="BlockedCholesky.UpperOfInverse"/>).</item>
/// <item>Column j: q = round(w_j) on its block's grid, e = (w_j − q)/U_jj, w_l −= e·U_jl for the later columns l,
/// within a block of <see cref="GptqSettings.BlockSize"/> columns at once, then for the columns after it.</item>
/// <item>Scales: from the current (error-updated) weights when a group's first column is reached; from the
/// unquantized weight up front (static) when act-order is on, when the grid is per channel or per tensor, or when
/// scales are given (the export's group layout never changes).</item>
/// <item>Optionally (<see cref="GptqSettings.RefitScales"/>) the scales are then re-fit by least squares with the
/// codes kept (<see cref="LeastSquaresScaleRefit"/>).</item>
/// </list>
/// Rows are independent given H, so they are rounded in parallel with a fixed per-row order (deterministic). Needs the
/// XᵀX of the layer's input (calibrated on the float model, or with <c>gptq-sequential</c> layer by layer on the
/// partly quantized model: <see cref="WeightOnly.SequentialSecondMoments"/>); a weight with no layer (an embedding
/// table) is rounded to nearest. <paramref name="ownsSecondMoments"/>: <paramref name="secondMomentOf"/> returns a new
/// array for each new input (the same one again only for the same input and row count) and nobody else reads it, so
/// the rounder may turn it into H in place.
/// </summary>
public sealed class GptqRounder(Func<LinearLayer, (double[] SecondMoment, long Rows)> secondMomentOf, GptqSettings settings, bool ownsSecondMoments = false) : IWeightRounder
{
    private static readonly RoundToNearest Nearest = new();
    private readonly GptqFactorReuse _reuse = new(ownsSecondMoments);


    public string Name => "gptq";

    public GptqSettings Settings { get; } = settings;

    public BlockQuantizedRows Round(ReadOnlySpan<float> rows, int rowCount, int columns, WeightGrid grid, LinearLayer? layer, BlockScales? scales = null)
    {
        if (layer is null) return Nearest.Round(rows, rowCount, columns, grid, null, scales);
        var (xtx, n) = secondMomentOf(layer);
        if (xtx.Length != (long)columns * columns)
            throw new OnnxQuantException($"gptq: the calibrated XᵀX of the input of {layer.Node} is {(int)Math.Sqrt(xtx.Length)}² but its weight has K = {columns}.");
        if (n <= 0)
            throw new OnnxQuantException($"gptq: the input of {layer.Node} was never observed in calibration; calibrate on data that reaches it.");
        try
        {
            return RoundWithHessian(rows, rowCount, columns, grid, _reuse.HessianOf(xtx, n), Settings, scales);
        }
        catch (ArgumentException e)
        {
            throw new OnnxQuantException($"gptq: {layer.Node}: {e.Message}");
        }
    }

    /// <summary>H = 2·XᵀX/n, the Hessian of the squared layer output error per row of X.</summary>
    public static double[] Hessian(double[] secondMoment, long rows)
    {
        var h = new double[secondMoment.Length];
        double factor = 2.0 / rows;
        for (int i = 0; i < h.Length; i++) h[i] = secondMoment[i] * factor;
        return h;
    }

    /// <summary><see cref="Hessian"/> written over <paramref name="secondMoment"/> (the same values, no second K×K array).</summary>
    public static double[] ScaleToHessian(double[] secondMoment, long rows)
    {
        double factor = 2.0 / rows;
        for (int i = 0; i < secondMoment.Length; i++) secondMoment[i] *= factor;
        return secondMoment;
    }

    /// <param name="rows">The weight, [rowCount, columns] row-major (one row per output channel).</param>
    /// <param name="hessian">H, [columns, columns] row-major, symmetric positive semi-definite.</param>
    public static BlockQuantizedRows RoundWithHessian(
        ReadOnlySpan<float> rows, int rowCount, int columns, WeightGrid grid, double[] hessian, GptqSettings settings, BlockScales? scales = null)
    {
        if (grid.Bits is < 2 or > 8) throw new ArgumentOutOfRangeException(nameof(grid), grid.Bits, "bits must be 2..8.");
        if (rows.Length != (long)rowCount * columns)
            throw new ArgumentException($"{rows.Length} weights are not {rowCount}×{columns}.", nameof(rows));
        if (hessian.Length != (long)columns * columns)
            throw new ArgumentException($"a {columns}-column weight needs a {columns}×{columns} Hessian, not {hessian.Length} entries.", nameof(hessian));
        int k = columns, groupSize = grid.BlockSize, blocks = grid.BlockCount(columns);
        bool scalesGiven = scales is not null;
        var (weights, h, order, u) = GptqHessian.Prepare(rows, rowCount, hessian, k, settings.ActOrder, settings.Damp);
        bool staticScales = scales is not null || settings.ActOrder || grid.PerTensor || groupSize >= columns;
        if (staticScales) scales ??= grid.ScalesOf(weights, rowCount, columns);
        var scaleValues = scales?.Scales ?? new float[rowCount * blocks];
        var zeroPoints = scales?.ZeroPoints ?? new int[rowCount * blocks];
        if (scaleValues.Length != rowCount * blocks || zeroPoints.Length != scaleValues.Length)
            throw new ArgumentException($"{scaleValues.Length} scales for {rowCount}×{blocks} blocks.", nameof(scales));

        var codes = new byte[rows.Length];
        int blockSize = Math.Max(1, settings.BlockSize);
        // Rows are rounded in tiles of settings.RowTile (16 rows of K = 5632 doubles are 720 KB): the update of the columns after a block reads U's rows of that block
        // once per tile instead of once per row (U is K×K doubles, 254 MB at K = 5632: reading it per row made the
        // pass memory-bound). Each row's arithmetic, and its order, is the per-row algorithm's, so the codes are too.
        int rowTile = Math.Max(1, settings.RowTile), tiles = (rowCount + rowTile - 1) / rowTile;
        Parallel.For(0, tiles, tile =>
        {
            int first = tile * rowTile, count = Math.Min(rowTile, rowCount - first);
            var w = new double[count][];
            var errors = new double[count][];
            for (int t = 0; t < count; t++)
            {
                var row = w[t] = new double[k];
                int r = first + t;
                for (int j = 0; j < k; j++) row[j] = weights[r * k + order[j]];
                errors[t] = new double[blockSize];
            }
            for (int start = 0; start < k; start += blockSize)
            {
                int end = Math.Min(k, start + blockSize);
                for (int t = 0; t < count; t++)
                {
                    int r = first + t;
                    var row = w[t];
                    for (int j = start; j < end; j++)
                    {
                        int column = order[j], b = r * blocks + column / groupSize;
                        if (!staticScales && column % groupSize == 0)
                            (scaleValues[b], zeroPoints[b]) = ScaleOf(grid, row.AsSpan(j, Math.Min(k, j + groupSize) - j));
                        float scale = scaleValues[b];
                        int zero = zeroPoints[b];
                        int code = QdqMath.Quantize((float)row[j], scale, zero, grid.MinCode, grid.MaxCode);
                        codes[r * k + column] = (byte)code;
                        double error = (row[j] - (code - zero) * scale) / u[j * k + j];
                        errors[t][j - start] = error;
                        SubtractScaled(row.AsSpan(j + 1, end - j - 1), error, u.AsSpan(j * k + j + 1, end - j - 1));
                    }
                }
                if (end < k) GptqLazyBatchUpdate.Apply(w, errors, u, k, start, end);
            }
        });
        var result = new BlockQuantizedRows(rowCount, columns, grid.Bits, groupSize, grid.Symmetric, codes, scaleValues, zeroPoints);
        if (settings.RefitScales && !scalesGiven && !grid.PerTensor)
            LeastSquaresScaleRefit.Refit(result, weights, GptqHessian.Damped(h, k, settings.Damp), grid);
        return result;
    }

    private static (float Scale, int ZeroPoint) ScaleOf(WeightGrid grid, ReadOnlySpan<double> values)
    {
        float min = 0, max = 0, extreme = 0;
        foreach (double d in values)
        {
            float v = (float)d;
            min = Math.Min(min, v);
            max = Math.Max(max, v);
            if (Math.Abs(v) > Math.Abs(extreme)) extreme = v;
        }
        return grid.ScaleFor(min, max, extreme);
    }

    /// <summary>target −= factor · source, vectorized (also the reference GptqLazyBatchUpdate's tests compare with).</summary>
    internal static void SubtractScaled(Span<double> target, double factor, ReadOnlySpan<double> source)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var f = new Vector<double>(factor);
            for (; i <= target.Length - Vector<double>.Count; i += Vector<double>.Count)
                (new Vector<double>(target[i..]) - f * new Vector<double>(source[i..])).CopyTo(target[i..]);
        }
        for (; i < target.Length; i++) target[i] -= factor * source[i];
    }
}
