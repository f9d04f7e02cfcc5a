using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Passes.Calibration.Ranges;

/// <summary>
/// Picks, among candidate clipping ranges, the one whose quantization to the target type has the least mean
/// squared error over the histogram (ALGORITHMS.md §5: a shrink grid range·(1 − i/100), optionally RepQ-ViT's
/// quantile candidates).
/// </summary>
/// <remarks>
/// Each bin's values are taken at the bin centre, and their error is that of the centre, (c − Q(c))², except where
/// a quantization step is finer than the bin inside the representable range: there the error is the uniform
/// rounding error step²/12. Bins are at least 2048 to the range, so for 2–8-bit targets the centre error is what
/// counts.
/// </remarks>
public static class MseSearch
{
    public static TensorRange Range(Histogram histogram, QuantTarget target, bool symmetric, int grid = 100, IReadOnlyList<double>? quantiles = null)
    {
        if (histogram.IsEmpty) return new TensorRange(double.NaN, double.NaN);
        if (grid < 1) throw new ArgumentOutOfRangeException(nameof(grid), grid, "The shrink grid needs at least one candidate.");
        if (!symmetric && histogram.Absolute)
            throw new ArgumentException("An asymmetric MSE search needs a signed histogram, not one of |x|.", nameof(histogram));
        var candidates = Candidates(histogram, symmetric, grid, quantiles ?? []);
        TensorRange best = candidates[0];
        double bestError = double.PositiveInfinity;
        foreach (var c in candidates)
        {
            double error = Error(histogram, QuantParams.FromRange(c.Min, c.Max, target));
            if (error < bestError)
            {
                bestError = error;
                best = c;
            }
        }
        return best;
    }

    /// <summary>Estimated Σ (x − Q(x))² over the histogram's values (see the remarks).</summary>
    public static double Error(Histogram histogram, QuantParams quant)
    {
        var counts = histogram.Counts;
        double width = histogram.Width;
        double step = quant.Target.IsFloat8 ? double.PositiveInfinity : quant.Scale;
        double lo = quant.RepresentableMin, hi = quant.RepresentableMax;
        double total = 0;
        for (int j = 0; j < counts.Length; j++)
        {
            long n = counts[j];
            if (n == 0) continue;
            double centre = histogram.LowerEdge(j) + width / 2;
            double e;
            if (step < width && centre >= lo && centre <= hi) e = step * step / 12;
            else
            {
                double d = centre - quant.FakeQuantize(centre);
                e = d * d;
            }
            total += n * e;
        }
        return total;
    }

    public static List<TensorRange> Candidates(Histogram histogram, bool symmetric, int grid, IReadOnlyList<double> quantiles)
    {
        var list = new List<TensorRange>(grid + quantiles.Count);
        if (symmetric)
        {
            double absMax = histogram.Absolute ? histogram.Max : Math.Max(Math.Abs(histogram.Min), Math.Abs(histogram.Max));
            for (int i = 0; i < grid; i++) list.Add(TensorRange.Symmetric(absMax * (1 - (double)i / grid)));
            var magnitudes = histogram.Absolute ? histogram : histogram.ToAbsolute();
            foreach (double q in quantiles) list.Add(TensorRange.Symmetric(magnitudes.Quantile(q)));
        }
        else
        {
            for (int i = 0; i < grid; i++)
            {
                double f = 1 - (double)i / grid;
                list.Add(new TensorRange(histogram.Min * f, histogram.Max * f));
            }
            foreach (double q in quantiles) list.Add(new TensorRange(histogram.Quantile(1 - q), histogram.Quantile(q)));
        }
        return list;
    }
}
