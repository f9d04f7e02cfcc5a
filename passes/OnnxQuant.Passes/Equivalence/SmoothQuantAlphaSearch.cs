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
        // An all-Conv model has nothing to sample (its groups keep 0.5), and ONNX Runtime refuses a run with no outputs.
        if (activations.Count == 0) return [];
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
    /// <paramref name="xMin"/>/<paramref name="xMax"/> are the signed per-channel range, <paramref name="xAbsMax"/> what s uses.
    /// The error is measured on at most <paramref name="maxColumns"/> output channels of each layer (see <see cref="Probe"/>).</summary>
    public static (double Alpha, float[]? Scale, double[] Errors) Choose(float[][] x, double[] xMin, double[] xMax, double[] xAbsMax, double[] wMax,
        IReadOnlyList<Layer> layers, SmoothQuantQuantizer? quantizer = null, int maxColumns = int.MaxValue)
    {
        var probe = new Probe(x, layers, maxColumns);
        var errors = new double[Grid.Length];
        double best = double.PositiveInfinity, bestAlpha = 0.5;
        float[]? bestScale = null;
        for (int i = 0; i < Grid.Length; i++)
        {
            var s = SmoothQuantPass.Scales(xAbsMax, wMax, Grid[i], out _);
            errors[i] = s is null ? double.PositiveInfinity : probe.Error(xMin, xMax, s, quantizer ?? SmoothQuantQuantizer.Default);
            if (errors[i] < best) (best, bestAlpha, bestScale) = (errors[i], Grid[i], s);
        }
        return (bestAlpha, bestScale, errors);
    }

    /// <summary>Σ over layers and rows of ‖x·B − Q_a(x/s)·Q_w(diag(s)·B)‖² over every output channel (see the class comment).</summary>
    public static double OutputError(float[][] x, double[] xMin, double[] xMax, float[] s, IReadOnlyList<Layer> layers, SmoothQuantQuantizer quantizer) =>
        new Probe(x, layers, int.MaxValue).Error(xMin, xMax, s, quantizer);

    /// <summary>
    /// The error of one activation's layers for many s: the float outputs x·B are computed once, and only on a fixed
    /// subset of output channels per layer (every channel when the layer has at most maxColumns, else maxColumns spread
    /// by an even stride). A per-channel weight quantizer treats output channels independently, so the subset's error is
    /// the same sum restricted to those channels (a per-tensor scale still comes from every channel); the search costs
    /// rows × K × maxColumns per layer and α instead of rows × K × N. The quantized products are float dot products
    /// (vectorized); the float reference and the sums are double.
    /// </summary>
    private sealed class Probe
    {
        private readonly float[][] _x;
        private readonly IReadOnlyList<Layer> _layers;
        private readonly int[][] _columns;
        private readonly double[][] _reference;
        private readonly int _width;

        public Probe(float[][] x, IReadOnlyList<Layer> layers, int maxColumns)
        {
            _x = x;
            _layers = layers;
            _columns = layers.Select(l => l.N <= maxColumns
                ? Enumerable.Range(0, l.N).ToArray()
                : Enumerable.Range(0, maxColumns).Select(i => (int)((long)i * l.N / maxColumns)).ToArray()).ToArray();
            _width = _columns.Sum(c => c.Length);
            _reference = new double[x.Length][];
            Parallel.For(0, x.Length, r =>
            {
                var y = new double[_width];
                var row = x[r];
                int at = 0;
                for (int li = 0; li < layers.Count; li++)
                {
                    var l = layers[li];
                    foreach (int n in _columns[li])
                    {
                        double sum = 0;
                        for (int j = 0; j < l.K; j++) sum += (double)row[j] * l.Rows[(long)n * l.K + j];
                        y[at++] = sum;
                    }
                }
                _reference[r] = y;
            });
        }

        public double Error(double[] xMin, double[] xMax, float[] s, SmoothQuantQuantizer quantizer)
        {
            int k = s.Length;
            var (lo, hi) = quantizer.Range(_x, xMin, xMax, s);
            var (aScale, aZero) = QdqMath.ActivationParams((float)lo, (float)hi, quantizer.ActivationType, quantizer.SymmetricActivations);
            var (aMin, aMax) = QdqMath.IntegerRange(quantizer.ActivationType, quantizer.SymmetricActivations);
            var quantized = new float[_layers.Count][];
            for (int li = 0; li < _layers.Count; li++) quantized[li] = QuantizedWeight(_layers[li], s, quantizer, _columns[li]);
            var perRow = new double[_x.Length];
            Parallel.For(0, _x.Length, () => new float[k], (r, _, xq) =>
            {
                var row = _x[r];
                for (int j = 0; j < k; j++)
                    xq[j] = (float)((double)(QdqMath.Quantize(row[j] / s[j], aScale, aZero, aMin, aMax) - aZero) * aScale);
                var y = _reference[r];
                double sum = 0;
                int at = 0;
                for (int li = 0; li < _layers.Count; li++)
                {
                    var wq = quantized[li];
                    for (int c = 0; c < _columns[li].Length; c++)
                    {
                        double d = y[at++] - System.Numerics.Tensors.TensorPrimitives.Dot<float>(xq, wq.AsSpan(c * k, k));
                        sum += d * d;
                    }
                }
                perRow[r] = sum;
                return xq;
            }, _ => { });
            // Summed in row order, so the result does not depend on the thread schedule.
            double total = 0;
            foreach (double e in perRow) total += e;
            return total;
        }
    }

    /// <summary>diag(s)·B rounded symmetric to the quantizer's weight bits, per output channel or per tensor (the
    /// per-tensor scale from every channel), and dequantized, for the output channels <paramref name="columns"/> only
    /// ([columns, K], in their order).</summary>
    private static float[] QuantizedWeight(Layer layer, float[] s, SmoothQuantQuantizer quantizer, int[] columns)
    {
        int k = layer.K;
        int qmax = (1 << (quantizer.WeightBits - 1)) - 1;
        double RowMax(int n)
        {
            double m = 0;
            for (int j = 0; j < k; j++) m = Math.Max(m, Math.Abs((double)layer.Rows[(long)n * k + j] * s[j]));
            return m;
        }
        double all = 0;
        if (!quantizer.PerChannelWeights)
            for (int n = 0; n < layer.N; n++) all = Math.Max(all, RowMax(n));
        var q = new float[(long)columns.Length * k];
        for (int c = 0; c < columns.Length; c++)
        {
            int n = columns[c];
            double scale = (quantizer.PerChannelWeights ? RowMax(n) : all) / qmax;
            for (int j = 0; j < k; j++)
            {
                double w = (double)layer.Rows[(long)n * k + j] * s[j];
                q[(long)c * k + j] = scale == 0 ? 0 : (float)(Math.Clamp(Math.Round(w / scale, MidpointRounding.ToEven), -qmax, qmax) * scale);
            }
        }
        return q;
    }
}
