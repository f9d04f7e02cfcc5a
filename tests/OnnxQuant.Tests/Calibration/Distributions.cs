namespace OnnxQuant.Tests.Calibration;

/// <summary>Seeded samples of known distributions for the observer tests.</summary>
internal static class Distributions
{
    public static float[] Uniform(int n, double low, double high, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(low + (high - low) * r.NextDouble())).ToArray();
    }

    /// <summary>N(mean, σ²) by Box–Muller.</summary>
    public static float[] Gaussian(int n, double mean, double sigma, int seed)
    {
        var r = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            double u1 = 1 - r.NextDouble(), u2 = r.NextDouble();
            x[i] = (float)(mean + sigma * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return x;
    }

    /// <summary>N(0, 1) with <paramref name="outliers"/> values of ±<paramref name="magnitude"/> at seeded positions.</summary>
    public static float[] GaussianWithOutliers(int n, int outliers, float magnitude, int seed)
    {
        var x = Gaussian(n, 0, 1, seed);
        var r = new Random(seed + 1);
        for (int i = 0; i < outliers; i++) x[r.Next(n)] = i % 2 == 0 ? magnitude : -magnitude;
        return x;
    }

    /// <summary>The exact order statistic at fraction q (the ⌈q·n⌉-th smallest), as the histogram's quantile estimates.</summary>
    public static double Quantile(IEnumerable<float> values, double q)
    {
        var sorted = values.Select(v => (double)v).Order().ToArray();
        int rank = Math.Clamp((int)Math.Ceiling(q * sorted.Length), 1, sorted.Length);
        return sorted[rank - 1];
    }

    /// <summary>Splits values into consecutive batches of seeded random sizes.</summary>
    public static IEnumerable<float[]> Batches(float[] values, int seed, int maxBatch = 5000)
    {
        var r = new Random(seed);
        for (int i = 0; i < values.Length;)
        {
            int n = Math.Min(values.Length - i, 1 + r.Next(maxBatch));
            yield return values[i..(i + n)];
            i += n;
        }
    }
}
