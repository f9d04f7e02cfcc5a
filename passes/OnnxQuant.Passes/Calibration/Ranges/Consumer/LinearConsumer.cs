using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Quantization;

namespace OnnxQuant.Passes.Calibration.Ranges.Consumer;

/// <summary>
/// A linear layer reading the tensor whose range is chosen, as the range chooser sees it: its weight rows [M, K]
/// (K per group; row m belongs to group m / (M / Groups)), the same rows after int8 symmetric per-output-channel
/// rounding (what insert-qdq writes by default), and sampled input rows. A row of input is what one output position
/// reads: the last axis of a MatMul/Gemm input (length K), or the im2col patch of a Conv output position over all
/// input channels (length Groups·K, channel-major, so group g's part starts at g·K and lines up with the weight row).
/// </summary>
public sealed class LinearConsumer
{
    public LinearConsumer(string name, float[] rows, int outputChannels, int groups, int k, IReadOnlyList<float[]> inputs)
    {
        if (outputChannels % groups != 0) throw new ArgumentException($"{groups} groups do not divide {outputChannels} output channels.", nameof(groups));
        if (rows.Length != (long)outputChannels * k) throw new ArgumentException($"Weight rows hold {rows.Length} values, not {outputChannels}×{k}.", nameof(rows));
        foreach (var x in inputs)
            if (x.Length != (long)groups * k) throw new ArgumentException($"An input row has {x.Length} values, not {groups}×{k}.", nameof(inputs));
        Name = name;
        Rows = rows;
        OutputChannels = outputChannels;
        Groups = groups;
        K = k;
        Inputs = inputs;
        QuantizedRows = QuantizeRows(rows, outputChannels, k);
    }

    /// <summary>The layer's node name (for logs).</summary>
    public string Name { get; }

    public float[] Rows { get; }

    public double[] QuantizedRows { get; }

    public int OutputChannels { get; }

    public int Groups { get; }

    public int K { get; }

    /// <summary>Sampled input rows (see the class comment).</summary>
    public IReadOnlyList<float[]> Inputs { get; }

    /// <summary>A layer read through <see cref="LinearLayer"/> with its sampled inputs.</summary>
    public static LinearConsumer Of(LinearLayer layer, IReadOnlyList<float[]> inputs) =>
        new(layer.Node.Name ?? layer.Node.OpType, layer.ReadRows(), layer.OutputChannels, layer.Groups, layer.K, inputs);

    /// <summary>
    /// Σ over sampled rows and output channels of (w·x − ŵ·Q(x))² with Q the activation quantizer of
    /// <paramref name="quant"/>, and Σ (w·x)² (the signal), both summed in row order (deterministic).
    /// </summary>
    public (double Error, double Signal) OutputError(QuantParams quant)
    {
        var (qmin, qmax) = ((int)quant.Target.CodeRange.Min, (int)quant.Target.CodeRange.Max);
        float scale = (float)quant.Scale;
        int zero = (int)quant.ZeroPoint;
        var perRow = new (double Error, double Signal)[Inputs.Count];
        int perGroup = OutputChannels / Groups;
        Parallel.For(0, Inputs.Count, r =>
        {
            var x = Inputs[r];
            var xq = new double[x.Length];
            for (int j = 0; j < x.Length; j++) xq[j] = (double)(QdqMath.Quantize(x[j], scale, zero, qmin, qmax) - zero) * scale;
            double error = 0, signal = 0;
            for (int m = 0; m < OutputChannels; m++)
            {
                int offset = m / perGroup * K;
                long w = (long)m * K;
                double y = 0, yq = 0;
                for (int j = 0; j < K; j++)
                {
                    y += (double)x[offset + j] * Rows[w + j];
                    yq += xq[offset + j] * QuantizedRows[w + j];
                }
                error += (y - yq) * (y - yq);
                signal += y * y;
            }
            perRow[r] = (error, signal);
        });
        double e = 0, s = 0;
        foreach (var (error, signal) in perRow)
        {
            e += error;
            s += signal;
        }
        return (e, s);
    }

    /// <summary>Int8 symmetric per row, max|w|/127, round half to even (insert-qdq's default weight quantizer).</summary>
    private static double[] QuantizeRows(float[] rows, int m, int k)
    {
        var q = new double[rows.Length];
        for (int i = 0; i < m; i++)
        {
            double max = 0;
            for (int j = 0; j < k; j++) max = Math.Max(max, Math.Abs((double)rows[(long)i * k + j]));
            double scale = QdqMath.RoundScale(max / 127, DataType.Float);
            for (int j = 0; j < k; j++)
                q[(long)i * k + j] = Math.Clamp(Math.Round(rows[(long)i * k + j] / scale, MidpointRounding.ToEven), -127, 127) * scale;
        }
        return q;
    }
}
