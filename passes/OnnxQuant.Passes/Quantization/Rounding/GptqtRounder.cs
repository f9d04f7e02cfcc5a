using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Numerics;

namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// GPTQT (Guo et al., "GPTQT: Quantize Large Language Models Twice to Push the Efficiency", 2024; ALGORITHMS.md §4):
/// a weight is quantized twice — GPTQ to a wider linear grid (<see cref="GptqtSettings.LinearBits"/>), then each
/// group's linear values are converted to binary coding w ≈ c + Σᵢ αᵢ·bᵢ (bᵢ ∈ {±1}) with fewer planes
/// (<see cref="BinaryCoding"/>, least squares weighted by H's diagonal). The scale of the linear step is re-explored:
/// each output channel tries every multiple of its groups' ranges in <see cref="GptqtSettings.ScaleFactors"/> and keeps
/// the one whose converted weights have the least layer output error (w − ŵ) H (w − ŵ)ᵀ. Last, GPTQ runs once more with
/// the chosen binary levels as the grid (error feedback at the final precision), kept per channel only when it lowers
/// that error further.
/// Preparation of H is GPTQ's (<see cref="GptqRounder"/>): dead inputs zero their column, damping, act-order, U with
/// H⁻¹ = UᵀU. Groups are static (from the unrounded weight), so the export's group layout is the natural one. Needs the
/// XᵀX of the layer's input; a weight with no layer (an embedding table) is rounded to nearest on the linear
/// <c>bits</c> grid through <see cref="Round"/>, which is also the integer fallback for readers that need codes.
/// </summary>
public sealed class GptqtRounder(Func<LinearLayer, (double[] SecondMoment, long Rows)> secondMomentOf, GptqtSettings settings, bool ownsSecondMoments = false) : IWeightRounder
{
    private static readonly RoundToNearest Nearest = new();
    private readonly GptqFactorReuse _reuse = new(ownsSecondMoments);

    public string Name => "gptqt";

    public GptqtSettings Settings { get; } = settings;

    /// <summary>The integer fallback (embedding tables and other readers of integer codes): round to nearest.</summary>
    public BlockQuantizedRows Round(ReadOnlySpan<float> rows, int rowCount, int columns, WeightGrid grid, LinearLayer? layer, BlockScales? scales = null) =>
        Nearest.Round(rows, rowCount, columns, grid, null, scales);

    /// <summary>Binary-codes a linear layer's weight (rows = output channels) in blocks of <paramref name="blockSize"/>
    /// along K, with α and c rounded to <paramref name="storedType"/>.</summary>
    public BinaryCodedRows RoundBinary(ReadOnlySpan<float> rows, int rowCount, int columns, int blockSize, DataType storedType, LinearLayer layer)
    {
        var (xtx, n) = secondMomentOf(layer);
        if (xtx.Length != (long)columns * columns)
            throw new OnnxQuantException($"gptqt: the calibrated XᵀX of the input of {layer.Node} is {(int)Math.Sqrt(xtx.Length)}² but its weight has K = {columns}.");
        if (n <= 0)
            throw new OnnxQuantException($"gptqt: the input of {layer.Node} was never observed in calibration; calibrate on data that reaches it.");
        try
        {
            return RoundWithHessian(rows, rowCount, columns, blockSize, _reuse.HessianOf(xtx, n), Settings, storedType);
        }
        catch (ArgumentException e)
        {
            throw new OnnxQuantException($"gptqt: {layer.Node}: {e.Message}");
        }
    }

    public static BinaryCodedRows RoundWithHessian(
        ReadOnlySpan<float> rows, int rowCount, int columns, int blockSize, double[] hessian, GptqtSettings settings, DataType storedType = DataType.Float)
    {
        if (rows.Length != (long)rowCount * columns)
            throw new ArgumentException($"{rows.Length} weights are not {rowCount}×{columns}.", nameof(rows));
        if (hessian.Length != (long)columns * columns)
            throw new ArgumentException($"a {columns}-column weight needs a {columns}×{columns} Hessian, not {hessian.Length} entries.", nameof(hessian));
        int k = columns, planes = settings.Planes, blocks = (k + blockSize - 1) / blockSize;
        var (weights, h, order, u) = GptqHessian.Prepare(rows, rowCount, hessian, k, settings.Gptq.ActOrder, settings.Gptq.Damp);
        var importance = Enumerable.Range(0, k).Select(i => h[i * k + i]).ToArray();
        var linear = new WeightGrid(settings.LinearBits, WeightScaleRule.Asymmetric, blockSize, false, storedType);

        var patterns = new byte[rowCount * k];
        var alphas = new float[rowCount * blocks * planes];
        var offsets = new float[rowCount * blocks];
        Parallel.For(0, rowCount, r =>
        {
            var w = weights.AsSpan(r * k, k).ToArray().Select(v => (double)v).ToArray();
            var linearValues = new double[k];
            Row? best = null;
            foreach (double factor in settings.ScaleFactors)
            {
                // Step 1: GPTQ on the linear grid whose range is this multiple of each group's min/max.
                var grids = new (float Scale, int Zero)[blocks];
                for (int b = 0; b < blocks; b++)
                {
                    int start = b * blockSize, end = Math.Min(k, start + blockSize);
                    double min = 0, max = 0, extreme = 0;
                    for (int j = start; j < end; j++)
                    {
                        min = Math.Min(min, w[j]);
                        max = Math.Max(max, w[j]);
                        if (Math.Abs(w[j]) > Math.Abs(extreme)) extreme = w[j];
                    }
                    grids[b] = linear.ScaleFor((float)(factor * min), (float)(factor * max), (float)(factor * extreme));
                }
                Feedback(w, order, u, k, (column, value) =>
                {
                    var (scale, zero) = grids[column / blockSize];
                    int code = QdqMath.Quantize((float)value, scale, zero, 0, linear.MaxCode);
                    return (code - zero) * (double)scale;
                }, linearValues);
                // Step 2: each group's linear values to binary coding.
                var candidate = Convert(linearValues, importance, k, blockSize, planes, storedType);
                candidate = candidate with { Error = OutputError(w, candidate.Values, h, k) };
                if (best is null || candidate.Error < best.Error) best = candidate;
            }
            // Step 3: GPTQ once more with the chosen binary levels as the grid.
            var refined = best!.Refined(w, order, u, k, blockSize, planes);
            refined = refined with { Error = OutputError(w, refined.Values, h, k) };
            if (refined.Error < best.Error) best = refined;
            Array.Copy(best.Patterns, 0, patterns, r * k, k);
            Array.Copy(best.Alphas, 0, alphas, r * blocks * planes, blocks * planes);
            Array.Copy(best.Offsets, 0, offsets, r * blocks, blocks);
        });
        return new BinaryCodedRows(rowCount, columns, planes, blockSize, patterns, alphas, offsets);
    }

    /// <summary>One output channel in binary coding, with its dequantized values and layer output error.</summary>
    private sealed record Row(byte[] Patterns, float[] Alphas, float[] Offsets, double[] Values, double Error)
    {
        public Row Refined(double[] w, int[] order, double[] u, int k, int blockSize, int planes)
        {
            var patterns = new byte[k];
            var values = new double[k];
            Feedback(w, order, u, k, (column, value) =>
            {
                int b = column / blockSize;
                var (offset, a) = Code(b, planes);
                int p = BinaryCoding.Nearest(value, offset, a);
                patterns[column] = (byte)p;
                return Level(b, planes, p);
            }, values);
            return this with { Patterns = patterns, Values = values };
        }

        public (double Offset, double[] Alphas) Code(int block, int planes) =>
            (Offsets[block], Enumerable.Range(0, planes).Select(i => (double)Alphas[block * planes + i]).ToArray());

        /// <summary>The level of a pattern in float, as <see cref="BinaryCodedRows.Dequantize"/> computes it.</summary>
        public double Level(int block, int planes, int pattern)
        {
            float v = Offsets[block];
            for (int i = 0; i < planes; i++) v += ((pattern >> i) & 1) != 0 ? Alphas[block * planes + i] : -Alphas[block * planes + i];
            return v;
        }
    }

    private static Row Convert(double[] linearValues, double[] importance, int k, int blockSize, int planes, DataType storedType)
    {
        int blocks = (k + blockSize - 1) / blockSize;
        var patterns = new byte[k];
        var alphas = new float[blocks * planes];
        var offsets = new float[blocks];
        var values = new double[k];
        var row = new Row(patterns, alphas, offsets, values, 0);
        for (int b = 0; b < blocks; b++)
        {
            int start = b * blockSize, end = Math.Min(k, start + blockSize);
            var fit = BinaryCoding.Solve(linearValues.AsSpan(start, end - start), importance.AsSpan(start, end - start), planes);
            offsets[b] = Stored(fit.Offset, storedType);
            for (int i = 0; i < planes; i++) alphas[b * planes + i] = Stored(fit.Alphas[i], storedType);
            // The stored (rounded) code decides each weight's pattern.
            var (offset, a) = row.Code(b, planes);
            for (int j = start; j < end; j++)
            {
                int p = BinaryCoding.Nearest(linearValues[j], offset, a);
                patterns[j] = (byte)p;
                values[j] = row.Level(b, planes, p);
            }
        }
        return row;
    }

    private static float Stored(double value, DataType type) => type == DataType.Float16 ? (float)(Half)value : (float)value;

    /// <summary>
    /// GPTQ's error feedback on one row with any grid: in <paramref name="order"/>, each column is rounded by
    /// <paramref name="quantize"/> (column index in the original order, current value → rounded value) and its error,
    /// divided by U_jj, is subtracted along U's row from the columns after it. <paramref name="rounded"/> receives the
    /// rounded values in the original column order.
    /// </summary>
    private static void Feedback(double[] row, int[] order, double[] u, int k, Func<int, double, double> quantize, double[] rounded)
    {
        var w = new double[k];
        for (int j = 0; j < k; j++) w[j] = row[order[j]];
        for (int j = 0; j < k; j++)
        {
            double q = quantize(order[j], w[j]);
            rounded[order[j]] = q;
            double error = (w[j] - q) / u[j * k + j];
            for (int l = j + 1; l < k; l++) w[l] -= error * u[j * k + l];
        }
    }

    /// <summary>(w − ŵ) H (w − ŵ)ᵀ of one row.</summary>
    private static double OutputError(double[] w, double[] rounded, double[] h, int k)
    {
        var d = new double[k];
        for (int i = 0; i < k; i++) d[i] = w[i] - rounded[i];
        double total = 0;
        for (int i = 0; i < k; i++)
        {
            if (d[i] == 0) continue;
            double s = 0;
            for (int j = 0; j < k; j++) s += h[i * k + j] * d[j];
            total += d[i] * s;
        }
        return total;
    }
}
