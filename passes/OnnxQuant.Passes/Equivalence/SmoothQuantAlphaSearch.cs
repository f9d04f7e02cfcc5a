using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Evaluation;

namespace OnnxQuant.Passes.Equivalence;

/// <summary>
/// <c>alpha: auto</c> of <see cref="SmoothQuantPass"/>: per activation X (with every layer reading it), the α on the
/// grid 0, 0.05, …, 1 whose scales s give the least Σ ‖X·B − Q_a(X/s)·Q_w(diag(s)·B)‖² over sampled calibration rows,
/// with Q_a the per-tensor activation quantizer and Q_w the symmetric weight quantizer the recipe's following calibrate
/// and insert-qdq steps will apply (<see cref="SmoothQuantQuantizer"/>: activation type and symmetry, min-max range from
/// the calibrated per-channel min/max of X divided by s or a percentile of the sampled rows of X/s, weight bits, per
/// output channel or per tensor).
/// <para>
/// Why rows and not XᵀX (as <c>awq</c> uses): AWQ's error is x·(B − B̂), linear in x, so Σ‖·‖² = Σ dᵀ·XᵀX·d. Here
/// the activation is quantized too, and Q_a(x/s) is not linear in x (rounding per element, a range set by the
/// extreme channel), so its error cannot be written through XᵀX; an actual sample of rows is what measures it.
/// The rows are kept at most <see cref="SmoothQuantOptions.AutoRows"/> per activation, spread by a fixed stride
/// over the data, so the search is deterministic and its memory bounded.
/// </para>
/// </summary>
internal static class SmoothQuantAlphaSearch
{
    /// <summary>The α tried: i/20 for i = 0 … 20 (0.5 is on it exactly, so auto is never worse than 0.5 on the rows).</summary>
    public static readonly double[] Grid = Enumerable.Range(0, 21).Select(i => i / 20.0).ToArray();

    /// <summary>
    /// Up to <paramref name="maxRows"/> rows (last axis = K) of each of <paramref name="activations"/>, from one run of
    /// <paramref name="model"/> over the calibration data, every stride-th row in data order (the stride from the
    /// first batch's rows per sample and the sample count).
    /// </summary>
    public static Dictionary<Value, float[][]> SampleRows(Model model, IReadOnlyList<Value> activations, int maxRows, PassContext context)
    {
        var settings = context.GetAnalysis<CalibrationSettings>() ?? new CalibrationSettings();
        var names = activations.Select(v => v.Name!).ToList();
        var rows = activations.ToDictionary(v => v, _ => new List<float[]>());
        var seen = activations.ToDictionary(v => v, _ => 0L);
        var stride = new Dictionary<Value, long>();
        using var source = settings.OpenData(model, null);
        using var runner = ModelRunner.FromModel(model, context.Runner, names);
        foreach (var batch in source.Batches())
        {
            var values = runner.Run(batch.Feeds, names);
            foreach (var x in activations)
            {
                var data = FloatValues.Of(values[x.Name!]);
                int k = checked((int)values[x.Name!].Dims[^1]);
                long count = data.Length / k;
                if (!stride.ContainsKey(x))
                {
                    long total = count / Math.Max(1, batch.SampleCount) * source.Count;
                    stride[x] = Math.Max(1, (total + maxRows - 1) / maxRows);
                }
                var kept = rows[x];
                for (long r = 0; r < count && kept.Count < maxRows; r++, seen[x]++)
                    if (seen[x] % stride[x] == 0) kept.Add(data.Slice((int)(r * k), k).ToArray());
            }
            if (rows.Values.All(l => l.Count >= maxRows)) break;
        }
        return rows.ToDictionary(e => e.Key, e => e.Value.ToArray());
    }

    /// <summary>One layer as the error sees it: its rows [N, K] (row n is output channel n, as stored).</summary>
    public sealed record Layer(float[] Rows, int N, int K);

    /// <summary>The α of <see cref="Grid"/> with the least <see cref="OutputError"/> (the first on ties) and every α's error;
    /// <paramref name="xMin"/>/<paramref name="xMax"/> are the signed per-channel range, <paramref name="xAbsMax"/> what s uses.</summary>
    public static (double Alpha, float[]? Scale, double[] Errors) Choose(float[][] x, double[] xMin, double[] xMax, double[] xAbsMax, double[] wMax,
        IReadOnlyList<Layer> layers, SmoothQuantQuantizer? quantizer = null)
    {
        var errors = new double[Grid.Length];
        double best = double.PositiveInfinity, bestAlpha = 0.5;
        float[]? bestScale = null;
        for (int i = 0; i < Grid.Length; i++)
        {
            var s = SmoothQuantPass.Scales(xAbsMax, wMax, Grid[i], out _);
            errors[i] = s is null ? double.PositiveInfinity : OutputError(x, xMin, xMax, s, layers, quantizer ?? SmoothQuantQuantizer.Default);
            if (errors[i] < best) (best, bestAlpha, bestScale) = (errors[i], Grid[i], s);
        }
        return (bestAlpha, bestScale, errors);
    }

    /// <summary>Σ over layers and rows of ‖x·B − Q_a(x/s)·Q_w(diag(s)·B)‖² (see the class comment).</summary>
    public static double OutputError(float[][] x, double[] xMin, double[] xMax, float[] s, IReadOnlyList<Layer> layers, SmoothQuantQuantizer quantizer)
    {
        int k = s.Length;
        var (lo, hi) = quantizer.Range(x, xMin, xMax, s);
        var (aScale, aZero) = QdqMath.ActivationParams((float)lo, (float)hi, quantizer.ActivationType, quantizer.SymmetricActivations);
        var (aMin, aMax) = QdqMath.IntegerRange(quantizer.ActivationType, quantizer.SymmetricActivations);
        var quantized = layers.Select(l => QuantizedWeight(l, s, quantizer)).ToList();
        var perRow = new double[x.Length];
        Parallel.For(0, x.Length, r =>
        {
            var row = x[r];
            var xq = new double[k];
            for (int j = 0; j < k; j++)
                xq[j] = (double)(QdqMath.Quantize(row[j] / s[j], aScale, aZero, aMin, aMax) - aZero) * aScale;
            double sum = 0;
            for (int li = 0; li < layers.Count; li++)
            {
                var (l, wq) = (layers[li], quantized[li]);
                for (int n = 0; n < l.N; n++)
                {
                    double y = 0, yq = 0;
                    for (int j = 0; j < k; j++)
                    {
                        y += (double)row[j] * l.Rows[(long)n * k + j];
                        yq += xq[j] * wq[(long)n * k + j];
                    }
                    sum += (y - yq) * (y - yq);
                }
            }
            perRow[r] = sum;
        });
        // Summed in row order, so the result does not depend on the thread schedule.
        double total = 0;
        foreach (double e in perRow) total += e;
        return total;
    }

    /// <summary>diag(s)·B rounded symmetric to the quantizer's weight bits, per output channel or per tensor, and
    /// dequantized ([N, K] like the rows).</summary>
    private static double[] QuantizedWeight(Layer layer, float[] s, SmoothQuantQuantizer quantizer)
    {
        int k = layer.K;
        int qmax = (1 << (quantizer.WeightBits - 1)) - 1;
        var q = new double[layer.Rows.Length];
        var max = new double[layer.N];
        for (int n = 0; n < layer.N; n++)
            for (int j = 0; j < k; j++) max[n] = Math.Max(max[n], Math.Abs((double)layer.Rows[(long)n * k + j] * s[j]));
        double all = max.Length == 0 ? 0 : max.Max();
        for (int n = 0; n < layer.N; n++)
        {
            double scale = (quantizer.PerChannelWeights ? max[n] : all) / qmax;
            for (int j = 0; j < k; j++)
            {
                double w = (double)layer.Rows[(long)n * k + j] * s[j];
                q[(long)n * k + j] = scale == 0 ? 0 : Math.Clamp(Math.Round(w / scale, MidpointRounding.ToEven), -qmax, qmax) * scale;
            }
        }
        return q;
    }
}
