using OnnxQuant.Passes.LinearLayers;

namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// Says, once per layer input, when GPTQ's Hessian comes from fewer calibration rows than the layer has input columns
/// (rows &lt; K): XᵀX then has rank at most rows, so the column-by-column error feedback rests on the damping rather
/// than on measured correlations. Measured on vit_mnist (issue 12): the head reads only the class token, so 32 images
/// give its K = 64 Hessian 32 rows, and `w4a4-repq` gains 0.6 dB when calibrated on 256. The user's fix is more
/// calibration data, which only the user can give, hence a message rather than a different rounding.
/// </summary>
public static class RankDeficientHessianWarning
{
    private static readonly object Seen = new();

    /// <summary>The same second moments as <paramref name="secondMomentOf"/>, logging the first time each XᵀX array
    /// (layers reading one input share it) has fewer rows than columns.</summary>
    public static Func<LinearLayer, (double[] SecondMoment, long Rows)> Wrap(
        Func<LinearLayer, (double[] SecondMoment, long Rows)> secondMomentOf, string pass, Action<string> log)
    {
        // Weak keys: a strong set kept every warned-about XᵀX (K×K doubles, 254 MB at K = 5632) alive to the end of
        // the pass, one per layer of a language model whose calibration has fewer rows than the FFN width.
        var seen = new System.Runtime.CompilerServices.ConditionalWeakTable<double[], object>();
        return layer =>
        {
            var (matrix, rows) = secondMomentOf(layer);
            long k = (long)Math.Round(Math.Sqrt(matrix.Length));
            if (rows > 0 && rows < k && seen.TryAdd(matrix, Seen))
                log($"{pass}: the input of {layer.Node} was calibrated on {rows} rows for K = {k} columns, so GPTQ's Hessian is rank-deficient "
                    + $"and the rounding leans on damping; calibrate on more samples (--count) so it sees at least {k} rows.");
            return (matrix, rows);
        };
    }
}
