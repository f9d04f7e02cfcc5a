using OnnxQuant.Ir;
using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Passes.Calibration.Ranges.Consumer;

/// <summary>
/// Per-tensor range choice by the least output error of the consumer layer (issue 13 item 3; RepQ-ViT's candidate
/// search, ALGORITHMS.md §1.2, judged at the consumer's output instead of at the tensor): each candidate range
/// (<see cref="RangeCandidate"/>: the whole range, percentiles, entropy, MSE) quantizes the sampled input rows of every
/// linear layer reading the tensor, the layer is applied with its weights as insert-qdq rounds them, and the range
/// with the least Σ‖y − ŷ‖² over those layers and rows wins (the first listed on ties). Why the consumer and not the
/// tensor: an outlier channel that meets small weights costs little at the output however large it is, and clipping
/// it to keep resolution for the channels that meet large weights is right; the tensor's own MSE cannot see the
/// weights. A tensor that no linear layer reads (or whose readers were not sampled) is judged by its own error over
/// its histogram (<see cref="MseSearch.Error"/>).
/// </summary>
public static class ConsumerRangeChooser
{
    public static RangeDecision Choose(string tensor, Histogram histogram, IReadOnlyList<string> candidateNames, QuantTarget target,
        IReadOnlyList<LinearConsumer> consumers)
    {
        if (histogram.Absolute) throw new ArgumentException($"Tensor '{tensor}' has a histogram of |x|; the range choice needs signed values.", nameof(histogram));
        var candidates = RangeCandidate.For(histogram, candidateNames, target);
        if (candidates.Count == 0) throw new OnnxQuantException($"Tensor '{tensor}' has no finite candidate range; check its calibration statistics.");
        var usable = consumers.Where(c => c.Inputs.Count > 0).ToList();
        var errors = new List<(string, double)>(candidates.Count);
        int best = 0;
        double bestError = double.PositiveInfinity, signal = 0;
        for (int i = 0; i < candidates.Count; i++)
        {
            var quant = QuantParams.FromRange(candidates[i].Range.Min, candidates[i].Range.Max, target);
            double error = 0;
            if (usable.Count > 0)
            {
                signal = 0;
                foreach (var c in usable)
                {
                    var (e, s) = c.OutputError(quant);
                    error += e;
                    signal += s;
                }
            }
            else error = MseSearch.Error(histogram, quant);
            errors.Add((candidates[i].Name, error));
            if (error < bestError) (best, bestError) = (i, error);
        }
        if (usable.Count == 0) signal = SignalPower(histogram);
        double sqnr = bestError <= 0 ? double.PositiveInfinity : 10 * Math.Log10(signal / bestError);
        return new RangeDecision(tensor, candidates[best], usable.Count > 0 ? "consumer" : "tensor", errors, sqnr);
    }

    private static double SignalPower(Histogram histogram)
    {
        double total = 0;
        for (int j = 0; j < histogram.Counts.Length; j++)
        {
            double centre = histogram.LowerEdge(j) + histogram.Width / 2;
            total += histogram.Counts[j] * centre * centre;
        }
        return total;
    }
}
