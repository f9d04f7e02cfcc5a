using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Calibration.Statistics;
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

    /// <summary>What one run over the calibration data gives an activation: its sampled rows and its per-channel statistics.</summary>
    public sealed record Sample(float[][] Rows, ChannelStatistics Channels);

    /// <summary>
    /// In one run of <paramref name="model"/> over the calibration data (every batch, in order): each of
    /// <paramref name="activations"/>' per-channel statistics along its last axis (the same min/max the calibrate step's
    /// per-channel abs-max observer gives, so the pass needs no second run for these activations) and up to
    /// <paramref name="maxRows"/> of its rows (last axis = K), every stride-th row in data order (the stride from the
    /// first batch's rows per sample and the sample count).
    /// </summary>
    public static Dictionary<Value, Sample> SampleRows(Model model, IReadOnlyList<Value> activations, int maxRows, PassContext context)
    {
        // An all-Conv model has nothing to sample (its groups keep 0.5), and ONNX Runtime refuses a run with no outputs.
        if (activations.Count == 0) return [];
        var settings = context.GetAnalysis<CalibrationSettings>() ?? new CalibrationSettings();
        var names = activations.Select(v => v.Name!).ToList();
        var rows = activations.ToDictionary(v => v, _ => new List<float[]>());
        var channels = new Dictionary<Value, ChannelStatistics>();
        var seen = activations.ToDictionary(v => v, _ => 0L);
        var stride = new Dictionary<Value, long>();
        using var source = settings.OpenData(model, null);
        using var runner = ModelRunner.FromModel(model, context.Runner, names);
        foreach (var batch in source.Batches())
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var values = runner.Run(batch.Feeds, names);
            foreach (var x in activations)
            {
                var tensor = values[x.Name!];
                var data = FloatValues.Of(tensor);
                var dims = tensor.Dims.ToArray();
                int k = checked((int)dims[^1]);
                if (!channels.TryGetValue(x, out var statistics))
                    channels[x] = statistics = new ChannelStatistics(dims.Length - 1, k);
                statistics.Add(data, dims);
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
        }
        source.NonFinite.Report(source.Description, context.Log);
        return channels.ToDictionary(e => e.Key, e => new Sample(rows[e.Key].ToArray(), e.Value));
    }

    /// <summary>One layer as the error sees it: its rows [N, K] (row n is output channel n, as stored).</summary>
    public sealed record Layer(float[] Rows, int N, int K);

    /// <summary>The α of <see cref="Grid"/> with the least <see cref="OutputError"/> (the first on ties) and every α's error;
    /// <paramref name="xMin"/>/<paramref name="xMax"/> are the signed per-channel range, <paramref name="xAbsMax"/> what s uses.
    /// The error is measured on at most <paramref name="maxColumns"/> output channels of each layer (see <see cref="SmoothQuantErrorProbe"/>).</summary>
    public static (double Alpha, float[]? Scale, double[] Errors) Choose(float[][] x, double[] xMin, double[] xMax, double[] xAbsMax, double[] wMax,
        IReadOnlyList<Layer> layers, SmoothQuantQuantizer? quantizer = null, int maxColumns = int.MaxValue)
    {
        var probe = new SmoothQuantErrorProbe(x, layers, maxColumns, quantizer ?? SmoothQuantQuantizer.Default);
        var errors = new double[Grid.Length];
        double best = double.PositiveInfinity, bestAlpha = 0.5;
        float[]? bestScale = null;
        for (int i = 0; i < Grid.Length; i++)
        {
            var s = SmoothQuantPass.Scales(xAbsMax, wMax, Grid[i], out _);
            errors[i] = s is null ? double.PositiveInfinity : probe.Error(xMin, xMax, s);
            if (errors[i] < best) (best, bestAlpha, bestScale) = (errors[i], Grid[i], s);
        }
        return (bestAlpha, bestScale, errors);
    }

    /// <summary>Σ over layers and rows of ‖x·B − Q_a(x/s)·Q_w(diag(s)·B)‖² over every output channel (see the class comment).</summary>
    public static double OutputError(float[][] x, double[] xMin, double[] xMax, float[] s, IReadOnlyList<Layer> layers, SmoothQuantQuantizer quantizer) =>
        new SmoothQuantErrorProbe(x, layers, int.MaxValue, quantizer).Error(xMin, xMax, s);
}
