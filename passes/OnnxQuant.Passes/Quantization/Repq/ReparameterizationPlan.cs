using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Passes.Quantization.Repq;

/// <summary>
/// The numbers of one post-LayerNorm reparameterization (ALGORITHMS.md §1.3): per channel (s_c, z_c) from RepQ's
/// percentile-candidate MSE search, the per-tensor (s̃, z̃) = (mean s_c, round(mean z_c)), r₁ = s/s̃ and r₂ = z − z̃.
/// A channel that was constant in calibration (no range) takes s̃ and z̃ (r₁ = 1, r₂ = 0): it is left as it is.
/// </summary>
public sealed record ReparameterizationPlan(float[] ChannelScales, int[] ChannelZeroPoints, float Scale, int ZeroPoint, double[] R1, int[] R2)
{
    public static ReparameterizationPlan From(IReadOnlyList<Histogram> channels, QuantTarget target, IReadOnlyList<double> fractions)
    {
        int k = channels.Count;
        var scales = new float[k];
        var zeros = new int[k];
        var live = new bool[k];
        for (int c = 0; c < k; c++)
        {
            var range = MseSearch.Range(channels[c], target, symmetric: false, grid: 1, quantiles: fractions);
            if (double.IsNaN(range.Min) || QuantParams.IsDegenerate(range.Min, range.Max, target)) continue;
            var p = QuantParams.FromRange(range.Min, range.Max, target);
            (scales[c], zeros[c], live[c]) = (p.Scale, (int)p.ZeroPoint, true);
        }
        return FromChannels(scales, zeros, live);
    }

    /// <summary>The plan for given channel quantizers (<paramref name="live"/> false: a constant channel, see the summary).</summary>
    public static ReparameterizationPlan FromChannels(float[] scales, int[] zeros, bool[]? live = null)
    {
        int k = scales.Length;
        live ??= Enumerable.Repeat(true, k).ToArray();
        int count = live.Count(l => l);
        if (count == 0) return new ReparameterizationPlan(Enumerable.Repeat(1f, k).ToArray(), new int[k], 1f, 0, Enumerable.Repeat(1.0, k).ToArray(), new int[k]);
        double sumScale = 0, sumZero = 0;
        for (int c = 0; c < k; c++)
            if (live[c])
            {
                sumScale += scales[c];
                sumZero += zeros[c];
            }
        float scale = (float)(sumScale / count);
        int zero = (int)Math.Round(sumZero / count, MidpointRounding.ToEven);
        var s = new float[k];
        var z = new int[k];
        var r1 = new double[k];
        var r2 = new int[k];
        for (int c = 0; c < k; c++)
        {
            (s[c], z[c]) = live[c] ? (scales[c], zeros[c]) : (scale, zero);
            r1[c] = s[c] / (double)scale;
            r2[c] = z[c] - zero;
        }
        return new ReparameterizationPlan(s, z, scale, zero, r1, r2);
    }
}
