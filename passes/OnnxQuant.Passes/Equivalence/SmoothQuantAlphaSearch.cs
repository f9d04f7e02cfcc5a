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
    public static Dictionary<Value, Sample> SampleRows(Model model, IReadOnlyList<Value> activations, int maxRows, PassContext context) =>
        SampleRows(model, activations.Select(a => (a, -1)).ToList(), maxRows, context);

    /// <summary>
    /// <see cref="SampleRows(Model, IReadOnlyList{Value}, int, PassContext)"/> with each activation's channel axis: −1
    /// (the last: a MatMul/Gemm input) or 1 (an NC… Conv input, whose rows are then its pixels' channel vectors: the rows a
    /// 1×1 convolution multiplies by its weight).
    /// </summary>
    public static Dictionary<Value, Sample> SampleRows(Model model, IReadOnlyList<(Value Activation, int ChannelAxis)> requested, int maxRows, PassContext context)
    {
        var activations = requested.Select(r => r.Activation).ToList();
        var axisOf = requested.ToDictionary(r => r.Activation, r => r.ChannelAxis);
        var byName = activations.ToDictionary(v => v.Name!, StringComparer.Ordinal);
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
            // Read in place from ONNX Runtime's buffers: a managed copy of every exposed activation of a batch is hundreds of
            // megabytes on a ViT-B (fresh pages each batch) for the few rows kept.
            runner.Run(batch.Feeds, names, (name, type, dims, bytes) =>
            {
                var x = byName[name];
                var data = FloatValues.Of(type, bytes);
                int axis = axisOf[x] < 0 ? dims.Length - 1 : axisOf[x];
                int k = checked((int)dims[axis]);
                if (!channels.TryGetValue(x, out var statistics))
                    channels[x] = statistics = new ChannelStatistics(axis, k);
                statistics.Add(data, dims);
                // Channels first: gather each pixel's channel vector into a row (N, C, H·W… → N·H·W… rows of C).
                if (axis != dims.Length - 1) data = ChannelsLast(data, dims, axis);
                long count = data.Length / k;
                if (!stride.ContainsKey(x))
                {
                    long total = count / Math.Max(1, batch.SampleCount) * source.Count;
                    stride[x] = Math.Max(1, (total + maxRows - 1) / maxRows);
                }
                var kept = rows[x];
                for (long r = 0; r < count && kept.Count < maxRows; r++, seen[x]++)
                    if (seen[x] % stride[x] == 0) kept.Add(data.Slice((int)(r * k), k).ToArray());
            });
        }
        source.NonFinite.Report(source.Description, context.Log);
        return channels.ToDictionary(e => e.Key, e => new Sample(rows[e.Key].ToArray(), e.Value));
    }

    /// <summary>[outer, C, inner] → [outer, inner, C] for the channel axis <paramref name="axis"/>.</summary>
    private static float[] ChannelsLast(ReadOnlySpan<float> data, ReadOnlySpan<long> dims, int axis)
    {
        long outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= dims[i];
        for (int i = axis + 1; i < dims.Length; i++) inner *= dims[i];
        int c = checked((int)dims[axis]);
        var result = new float[data.Length];
        for (long o = 0; o < outer; o++)
            for (int j = 0; j < c; j++)
                for (long n = 0; n < inner; n++)
                    result[(o * inner + n) * c + j] = data[(int)((o * c + j) * inner + n)];
        return result;
    }

    /// <summary>One layer as the error sees it: its rows [N, K] (row n is output channel n, as stored).</summary>
    public sealed record Layer(float[] Rows, int N, int K);

    /// <summary>The α of <see cref="Grid"/> with the least <see cref="OutputError"/> (the first on ties) and every α's error;
    /// <paramref name="xMin"/>/<paramref name="xMax"/> are the signed per-channel range, <paramref name="xAbsMax"/> what s uses.
    /// The error is measured on at most <paramref name="maxColumns"/> output channels of each layer (see <see cref="SmoothQuantErrorProbe"/>).</summary>
    public static (double Alpha, float[]? Scale, double[] Errors) Choose(float[][] x, double[] xMin, double[] xMax, double[] xAbsMax, double[] wMax,
        IReadOnlyList<Layer> layers, SmoothQuantQuantizer? quantizer = null, int maxColumns = int.MaxValue) =>
        Choose(new SmoothQuantErrorProbe(x, layers, maxColumns, quantizer ?? SmoothQuantQuantizer.Default), xMin, xMax, xAbsMax, wMax);

    /// <summary>
    /// <see cref="Choose(float[][], double[], double[], double[], double[], IReadOnlyList{Layer}, SmoothQuantQuantizer?, int)"/>
    /// on a probe built once. With <paramref name="bounded"/>, α = 0.5 is measured first, then the others from 0.5 outwards, and each stops as soon
    /// as its partial error exceeds the best so far (<see cref="SmoothQuantErrorProbe.Error"/>): the same choice (the
    /// exact least error, the first on ties), with +∞ in <c>Errors</c> for the α that stopped early.
    /// </summary>
    public static (double Alpha, float[]? Scale, double[] Errors) Choose(SmoothQuantErrorProbe probe, double[] xMin, double[] xMax, double[] xAbsMax, double[] wMax, bool bounded = false)
    {
        var errors = new double[Grid.Length];
        var scales = new float[]?[Grid.Length];
        int half = Array.IndexOf(Grid, 0.5);
        double best = double.PositiveInfinity;
        // Bounded: from 0.5 outwards (0.45, 0.55, 0.4, …), where the least error usually lies, so the bound tightens early.
        var order = bounded ? Enumerable.Range(0, Grid.Length).OrderBy(i => Math.Abs(i - half)).ThenBy(i => i) : Enumerable.Range(0, Grid.Length);
        foreach (int i in order)
        {
            scales[i] = SmoothQuantPass.Scales(xAbsMax, wMax, Grid[i], out _);
            errors[i] = scales[i] is null ? double.PositiveInfinity : probe.Error(xMin, xMax, scales[i]!, bounded ? best : double.PositiveInfinity);
            best = Math.Min(best, errors[i]);
        }
        double bestError = double.PositiveInfinity, bestAlpha = 0.5;
        float[]? bestScale = null;
        for (int i = 0; i < Grid.Length; i++)
            if (errors[i] < bestError) (bestError, bestAlpha, bestScale) = (errors[i], Grid[i], scales[i]);
        return (bestAlpha, bestScale, errors);
    }

    /// <summary>Σ over layers and rows of ‖x·B − Q_a(x/s)·Q_w(diag(s)·B)‖² over every output channel (see the class comment).</summary>
    public static double OutputError(float[][] x, double[] xMin, double[] xMax, float[] s, IReadOnlyList<Layer> layers, SmoothQuantQuantizer quantizer) =>
        new SmoothQuantErrorProbe(x, layers, int.MaxValue, quantizer).Error(xMin, xMax, s);
}
