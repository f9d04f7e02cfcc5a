namespace OnnxQuant.Runtime.Evaluation;

/// <summary>
/// Streaming next-token statistics of a language model's logits against its float original, over every position of
/// every sample: top-1 agreement (both arg-maxes equal, first index on ties) and KL(P‖Q) = Σᵢ pᵢ (log pᵢ − log qᵢ)
/// with P = softmax(float logits), Q = softmax(quantized logits). KL is the expected extra log-loss of predicting
/// with Q when P is right, so it measures the whole distribution, not just its top token.
/// </summary>
/// <remarks>
/// Log-probabilities are x − logsumexp(x) in double, logsumexp taken around the row's maximum, so logits of any
/// magnitude neither overflow nor lose the small differences between models; a row's KL is 0 exactly when the rows
/// are equal, and is clamped at 0 against rounding (it is ≥ 0 mathematically). Only sums are kept.
/// </remarks>
public sealed class NextTokenStatistics
{
    private double _klSum;

    public long Positions { get; private set; }

    public long Agreements { get; private set; }

    public double MaxKl { get; private set; }

    /// <summary>Percent of positions where both models predict the same next token (0 when none were added).</summary>
    public double AgreementRate => Positions == 0 ? 0 : 100.0 * Agreements / Positions;

    /// <summary>Mean KL(float‖quant) per position, in nats (0 when none were added).</summary>
    public double MeanKl => Positions == 0 ? 0 : _klSum / Positions;

    /// <summary>Adds consecutive rows of <paramref name="vocab"/> logits (any leading shape, e.g. [1, seq, vocab]).</summary>
    public void Add(ReadOnlySpan<float> floatLogits, ReadOnlySpan<float> quantLogits, int vocab)
    {
        if (floatLogits.Length != quantLogits.Length)
            throw new ArgumentException($"The float logits have {floatLogits.Length} values, the quantized {quantLogits.Length}.", nameof(quantLogits));
        if (vocab < 1 || floatLogits.Length % vocab != 0)
            throw new ArgumentException($"{floatLogits.Length} logits are not whole rows of {vocab}.", nameof(vocab));
        for (int start = 0; start < floatLogits.Length; start += vocab)
        {
            var p = floatLogits.Slice(start, vocab);
            var q = quantLogits.Slice(start, vocab);
            if (ArgMax.Of(p) == ArgMax.Of(q)) Agreements++;
            double kl = Kl(p, q);
            _klSum += kl;
            if (kl > MaxKl || double.IsNaN(kl)) MaxKl = kl;
            Positions++;
        }
    }

    /// <summary>KL(softmax(p) ‖ softmax(q)) of one row, in nats.</summary>
    public static double Kl(ReadOnlySpan<float> p, ReadOnlySpan<float> q)
    {
        double lseP = LogSumExp(p), lseQ = LogSumExp(q), kl = 0;
        for (int i = 0; i < p.Length; i++)
        {
            double logP = p[i] - lseP;
            double prob = Math.Exp(logP);
            // 0 · log(0 / q) = 0: a token the float model gives no mass to adds nothing, even where q is −∞.
            if (prob > 0) kl += prob * (logP - (q[i] - lseQ));
        }
        return kl < 0 ? 0 : kl;
    }

    /// <summary>log Σ exp(xᵢ) = m + log Σ exp(xᵢ − m), m = max x (−∞ or NaN rows give −∞ or NaN).</summary>
    public static double LogSumExp(ReadOnlySpan<float> x)
    {
        double max = double.NegativeInfinity;
        foreach (float v in x)
        {
            if (float.IsNaN(v)) return double.NaN;
            if (v > max) max = v;
        }
        if (double.IsInfinity(max)) return max;
        double sum = 0;
        foreach (float v in x) sum += Math.Exp(v - max);
        return max + Math.Log(sum);
    }
}
