namespace OnnxQuant.Tests.Calibration;

/// <summary>
/// ONNX Runtime's <c>get_entropy_threshold</c> transcribed plainly (no prefix sums, fresh arrays per candidate), over
/// a symmetric histogram given as counts and edges: the reference the entropy calibrator is checked against.
/// </summary>
internal static class OrtEntropyReference
{
    public static (double Low, double High) Threshold(long[] hist, double[] edges, int numQuantizedBins, double min, double max)
    {
        int numBins = hist.Length;
        int zeroBinIndex = numBins / 2;
        int numHalfQuantizedBin = numQuantizedBins / 2;
        var kl = new double[zeroBinIndex - numHalfQuantizedBin + 1];
        var thresholds = new (double, double)[kl.Length];
        for (int i = numHalfQuantizedBin; i < zeroBinIndex + 1; i++)
        {
            int startIndex = zeroBinIndex - i;
            int endIndex = zeroBinIndex + i + 1 <= numBins ? zeroBinIndex + i + 1 : numBins;
            thresholds[i - numHalfQuantizedBin] = (edges[startIndex], edges[endIndex]);
            long[] sliced = hist[startIndex..endIndex];
            double[] p = sliced.Select(v => (double)v).ToArray();
            long left = 0, right = 0;
            for (int k = 0; k < startIndex; k++) left += hist[k];
            for (int k = endIndex; k < numBins; k++) right += hist[k];
            p[0] += left;
            p[^1] += right;
            int[] nonzeros = p.Select(v => v != 0 ? 1 : 0).ToArray();
            var quantizedBins = new long[numQuantizedBins];
            int numMergedBins = sliced.Length / numQuantizedBins;
            for (int index = 0; index < numQuantizedBins; index++)
            {
                int start = index * numMergedBins, end = start + numMergedBins;
                quantizedBins[index] = sliced[start..end].Sum();
            }
            quantizedBins[^1] += sliced[(numQuantizedBins * numMergedBins)..].Sum();
            var q = new long[p.Length]; // int64, as ORT's q: the share below is truncated
            for (int index = 0; index < numQuantizedBins; index++)
            {
                int start = index * numMergedBins, end = start + numMergedBins;
                int norm = nonzeros[start..end].Sum();
                if (norm != 0)
                    for (int k = start; k < end; k++) q[k] = (long)((double)quantizedBins[index] / norm);
            }
            var ps = Smooth(p);
            var qs = Smooth(q.Select(v => (double)v).ToArray());
            kl[i - numHalfQuantizedBin] = ps is null || qs is null ? double.PositiveInfinity : Entropy(ps, qs);
        }
        int best = 0;
        for (int k = 1; k < kl.Length; k++) if (kl[k] < kl[best]) best = k;
        var (lo, hi) = thresholds[best];
        return (Math.Max(lo, min), Math.Min(hi, max));
    }

    private static double[]? Smooth(double[] p, double eps = 0.0001)
    {
        int zeros = p.Count(v => v == 0);
        int nonZeros = p.Length - zeros;
        if (nonZeros == 0) return null;
        double eps1 = eps * zeros / nonZeros;
        return p.Select(v => v == 0 ? eps : v - eps1).ToArray();
    }

    private static double Entropy(double[] p, double[] q)
    {
        double sp = p.Sum(), sq = q.Sum(), result = 0;
        for (int k = 0; k < p.Length; k++) result += p[k] / sp * Math.Log(p[k] / sp / (q[k] / sq));
        return result;
    }

    /// <summary>A symmetric histogram of <paramref name="values"/> over [−m·w, m·w) with m the fewest bins that hold them.</summary>
    public static (long[] Hist, double[] Edges) SymmetricHistogram(float[] values, double w)
    {
        long m = Math.Max((long)Math.Ceiling(-values.Min() / w), (long)Math.Floor(values.Max() / w) + 1);
        var hist = new long[2 * m];
        foreach (float v in values) hist[(long)Math.Floor(v / w) + m]++;
        var edges = new double[2 * m + 1];
        for (long k = 0; k <= 2 * m; k++) edges[k] = (k - m) * w;
        return (hist, edges);
    }

    /// <summary>ORT's own histogram for the entropy calibrator: <paramref name="bins"/> bins over [−max|x|, max|x|].</summary>
    public static (long[] Hist, double[] Edges) OrtHistogram(float[] values, int bins)
    {
        double t = values.Max(v => Math.Abs(v));
        var hist = new long[bins];
        double w = 2 * t / bins;
        foreach (float v in values) hist[Math.Min(bins - 1, (int)Math.Floor((v + t) / w))]++;
        var edges = Enumerable.Range(0, bins + 1).Select(k => -t + k * w).ToArray();
        return (hist, edges);
    }
}
