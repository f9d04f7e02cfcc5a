using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Passes.Calibration.Ranges;

/// <summary>
/// ONNX Runtime's entropy (KL divergence) calibrator, as its <c>get_entropy_threshold</c> defines it
/// (ALGORITHMS.md §5), run on our histogram viewed symmetrically around 0.
/// </summary>
/// <remarks>
/// The signed histogram is laid over 2m bins [−m·w, m·w) centred on 0 (m covers every populated bin; bins are
/// merged in pairs until 2m ≤ the histogram's resolution, 2048 by default, as ORT's histogram over [−T, T]). For
/// i = nq/2 … m, the slice [m − i, m + i + 1) is the candidate (ORT's slice is one bin longer on the right):
/// p is the slice with the counts outside it added to its end bins; the slice (without those outliers) is merged
/// into nq bins of ⌊len/nq⌋ bins each (the remainder goes to the last), and each merged count is spread back
/// evenly over the bins of its group where p is non-zero — into an integer array, as ORT does, so the share is
/// truncated — to give q. Both are smoothed (zeros get ε = 1e-4, taken evenly from the non-zero bins) and
/// KL(p‖q) of their normalized forms is computed. The first minimum wins; its edges, clamped to the observed
/// [min, max], are the range.
/// </remarks>
public static class EntropyCalibration
{
    public const double SmoothingEpsilon = 1e-4;

    public static TensorRange Range(Histogram histogram, int quantizedBins = 128)
    {
        if (histogram.Absolute) throw new ArgumentException("The entropy method needs a signed histogram, not one of |x|.", nameof(histogram));
        if (quantizedBins < 2 || quantizedBins % 2 != 0) throw new ArgumentOutOfRangeException(nameof(quantizedBins), quantizedBins, "Use an even number of quantized bins, at least 2.");
        if (histogram.IsEmpty) return new TensorRange(double.NaN, double.NaN);
        var counts = histogram.Counts;
        int first = 0, last = counts.Length - 1;
        while (counts[first] == 0) first++;
        while (counts[last] == 0) last--;
        long gFirst = histogram.Offset + first, gLast = histogram.Offset + last;
        // Coarsen (exactly: bins merge in pairs) until the symmetric view has at most `Resolution` bins, as ORT's
        // 2048 bins over [−T, T]; the search is quadratic in the bins, and finer bins do not change its answer much.
        int shift = 0;
        while (Math.Max(-(gFirst >> shift), (gLast >> shift) + 1) > Math.Max(histogram.Resolution / 2, quantizedBins)) shift++;
        int m = (int)Math.Max(1, Math.Max(-(gFirst >> shift), (gLast >> shift) + 1));
        int half = quantizedBins / 2;
        if (m < half) return new TensorRange(histogram.Min, histogram.Max);

        int bins = 2 * m;
        var hist = new double[bins];
        for (int j = first; j <= last; j++) hist[((histogram.Offset + j) >> shift) + m] += counts[j];
        var prefix = new double[bins + 1];
        for (int k = 0; k < bins; k++) prefix[k + 1] = prefix[k] + hist[k];

        var p = new double[bins];
        var q = new double[bins];
        var quantized = new double[quantizedBins];
        double best = double.PositiveInfinity;
        int bestStart = 0, bestEnd = bins;
        for (int i = half; i <= m; i++)
        {
            int start = m - i, end = Math.Min(m + i + 1, bins), length = end - start;
            var slice = hist.AsSpan(start, length);
            var pSpan = p.AsSpan(0, length);
            slice.CopyTo(pSpan);
            pSpan[0] += prefix[start];
            pSpan[^1] += prefix[bins] - prefix[end];

            int merged = length / quantizedBins;
            for (int index = 0; index < quantizedBins; index++)
                quantized[index] = prefix[start + (index + 1) * merged] - prefix[start + index * merged];
            quantized[^1] += prefix[end] - prefix[start + quantizedBins * merged];

            var qSpan = q.AsSpan(0, length);
            qSpan.Clear();
            for (int index = 0; index < quantizedBins; index++)
            {
                int s = index * merged, e = s + merged, norm = 0;
                for (int k = s; k < e; k++) if (pSpan[k] != 0) norm++;
                if (norm == 0) continue;
                qSpan.Slice(s, merged).Fill(Math.Floor(quantized[index] / norm));
            }

            double kl = Smooth(pSpan) && Smooth(qSpan) ? Divergence(pSpan, qSpan) : double.PositiveInfinity;
            if (kl < best)
            {
                best = kl;
                bestStart = start;
                bestEnd = end;
            }
        }
        double lo = Math.Max(Math.ScaleB(bestStart - m, histogram.WidthExponent + shift), histogram.Min);
        double hi = Math.Min(Math.ScaleB(bestEnd - m, histogram.WidthExponent + shift), histogram.Max);
        return new TensorRange(lo, hi);
    }

    /// <summary>ORT's <c>smooth_distribution</c>: zeros become ε, non-zeros lose ε·zeros/nonzeros. False when all are zero.</summary>
    private static bool Smooth(Span<double> d)
    {
        int zeros = 0;
        foreach (double v in d) if (v == 0) zeros++;
        int nonZeros = d.Length - zeros;
        if (nonZeros == 0) return false;
        double taken = SmoothingEpsilon * zeros / nonZeros;
        for (int k = 0; k < d.Length; k++) d[k] = d[k] == 0 ? SmoothingEpsilon : d[k] - taken;
        return true;
    }

    /// <summary>scipy.stats.entropy(p, q): Σ p log(p/q) over the normalized distributions.</summary>
    private static double Divergence(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        double sp = 0, sq = 0;
        for (int k = 0; k < p.Length; k++)
        {
            sp += p[k];
            sq += q[k];
        }
        double kl = 0;
        for (int k = 0; k < p.Length; k++)
        {
            double pk = p[k] / sp;
            kl += pk * Math.Log(pk / (q[k] / sq));
        }
        return kl;
    }
}
