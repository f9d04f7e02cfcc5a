using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Runtime.Calibration.Statistics;

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
    /// <paramref name="activations"/>' per-channel statistics along its last axis (the calibrate step's per-channel
    /// abs-max observer) and up to <paramref name="maxRows"/> of its rows (<see cref="SmoothQuantRowSampler"/>).
    /// </summary>
    public static Dictionary<Value, Sample> SampleRows(Model model, IReadOnlyList<Value> activations, int maxRows, PassContext context) =>
        SampleRows(model, activations.Select(a => (a, -1)).ToList(), maxRows, context);

    /// <summary>
    /// <see cref="SampleRows(Model, IReadOnlyList{Value}, int, PassContext)"/> with each activation's channel axis: −1
    /// (the last: a MatMul/Gemm input) or 1 (an NC… Conv input, whose rows are then its pixels' channel vectors), run by the
    /// calibrate step's collector (<see cref="CalibratePass.Collect"/>; block-wise per <paramref name="blocks"/>).
    /// </summary>
    public static Dictionary<Value, Sample> SampleRows(Model model, IReadOnlyList<(Value Activation, int ChannelAxis)> requested, int maxRows, PassContext context,
        CalibrateOptions? blocks = null)
    {
        if (requested.Count == 0) return [];
        var sampler = new SmoothQuantRowSampler(requested, maxRows);
        var requests = new StatisticsRequests();
        foreach (var (activation, axis) in requested) requests.ChannelAbsMax(activation, axis);
        var result = new Dictionary<Value, Sample>();
        void Keep(CalibrationResult statistics)
        {
            foreach (var (activation, _) in requested)
                if (!result.ContainsKey(activation) && statistics.TryGetStatistics(activation, out var t) && t.Channels is { } channels)
                    result[activation] = new Sample(sampler.Take(activation), channels);
        }
        Keep(CalibratePass.Collect(model, requests, new RangeOptions(), context, (_, statistics) => Keep(statistics), blocks, sampler.Observe));
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
