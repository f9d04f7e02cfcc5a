using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Passes.Quantization.Repq;

/// <summary>
/// RepQ-ViT's log√2 quantizer for post-Softmax activations (ALGORITHMS.md §1.4): code q = round(−2·log₂(A/s)),
/// value Â = s·2^(−q/2); codes at or above 2^b give 0, below 0 give 0 (Â = s). So 2^b codes plus the zero value.
/// <para>
/// Computed without a logarithm, so that a graph of standard float ops reproduces the codes exactly: the boundaries
/// between codes k and k+1 are the thresholds T_k = fl32(s·2^(−(2k+1)/4)), k = 0 … 2^b − 1 (non-increasing), and
/// q = #{k : A ≤ T_k}. This is round(−2·log₂(A/s)) for every A except within one float32 rounding of a threshold
/// (where a logarithm computed in float could go either way). The exported graph finds the same count by a binary
/// search over the thresholds (b + 1 steps of Gather, LessOrEqual and Where; <see cref="RepqVitPass"/>), then reads
/// Â from the table <see cref="Values"/>.
/// </para>
/// </summary>
public sealed class Log2Quantizer
{
    public Log2Quantizer(float scale, int bits)
    {
        if (bits is < 2 or > 8) throw new ArgumentOutOfRangeException(nameof(bits), bits, "log√2 codes take 2..8 bits.");
        if (!(scale > 0) || !float.IsFinite(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "The scale must be positive and finite.");
        Scale = scale;
        Bits = bits;
        int levels = 1 << bits;
        Thresholds = new float[levels];
        for (int k = 0; k < levels; k++) Thresholds[k] = (float)(scale * Math.Pow(2, -(2.0 * k + 1) / 4));
        Values = new float[levels + 1];
        for (int q = 0; q < levels; q++) Values[q] = (float)(scale * Math.Pow(2, -q / 2.0));
        Values[levels] = 0;
    }

    public float Scale { get; }
    public int Bits { get; }

    /// <summary>T_k: values at or below T_k have a code above k.</summary>
    public float[] Thresholds { get; }

    /// <summary>Â by code: s·2^(−q/2) for q &lt; 2^b, and 0 for the code 2^b (values too small for any code).</summary>
    public float[] Values { get; }

    /// <summary>The code of <paramref name="a"/>: how many thresholds it does not exceed (0 … 2^b; 2^b means Â = 0).</summary>
    public int Code(float a)
    {
        int count = 0;
        foreach (float t in Thresholds)
            if (a <= t) count++;
        return count;
    }

    public float Dequantize(int code) => Values[code];

    public float FakeQuantize(float a) => Values[Code(a)];

    /// <summary>The definition in real arithmetic: round(−2·log₂(a/s)), 2^b (zero) at or above 2^b, 0 below 0.</summary>
    public static int IdealCode(double a, double scale, int bits)
    {
        if (a <= 0) return 1 << bits;
        double q = Math.Round(-2 * Math.Log2(a / scale), MidpointRounding.ToEven);
        return q >= 1 << bits ? 1 << bits : (int)Math.Max(q, 0);
    }

    /// <summary>
    /// RepQ-ViT's scale search: s = quantile(A, p) for each candidate fraction p, keeping the one with the least squared
    /// error of the log√2 quantizer over the histogram's values (bin centres); null for an empty histogram.
    /// </summary>
    public static Log2Quantizer? Search(Histogram histogram, int bits, IReadOnlyList<double> fractions)
    {
        if (histogram.IsEmpty) return null;
        Log2Quantizer? best = null;
        double bestError = double.PositiveInfinity;
        var counts = histogram.Counts;
        double width = histogram.Width;
        foreach (double p in fractions)
        {
            float s = (float)histogram.Quantile(p);
            if (!(s > 0) || !float.IsFinite(s)) continue;
            var candidate = new Log2Quantizer(s, bits);
            double error = 0;
            for (int j = 0; j < counts.Length; j++)
            {
                if (counts[j] == 0) continue;
                float centre = (float)(histogram.LowerEdge(j) + width / 2);
                double d = centre - candidate.FakeQuantize(centre);
                error += counts[j] * d * d;
            }
            if (error < bestError)
            {
                bestError = error;
                best = candidate;
            }
        }
        return best;
    }
}
