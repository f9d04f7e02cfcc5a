using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Equivalence;

/// <summary>
/// SmoothQuant (Xiao et al. 2023, "SmoothQuant: Accurate and Efficient Post-Training Quantization for Large Language
/// Models"): moves activation outliers into the weights before 8-bit quantization. Identity: for a linear layer
/// y = x·B + b and any positive per-input-channel s, y = (x·diag(s)⁻¹)·(diag(s)·B) + b, exactly in real arithmetic.
/// Per channel j of the activation X, s_j = max|X_j|^α / max|B_j|^(1−α), with max|X_j| calibrated and max|B_j| the
/// largest weight of row j over every layer reading X (q, k and v read one LayerNorm output and share one s). The rows
/// of each B are multiplied by s; X ← X/s is folded into what produces X: LayerNormalization's γ and β, an RMS norm's
/// γ (RMSNormalization, SimplifiedLayerNormalization), the previous MatMul/Gemm's output columns and bias (also as
/// MatMul then Add of a constant), or, when nothing absorbs it (GELU, a graph input), an explicit Mul by 1/s before the
/// layers (option <c>explicit-mul</c>; counted as <c>mul</c>).
/// <para>
/// Convolutions (option <c>conv</c>, default on; Xiao et al. treat only linear layers, the identity is the same per
/// input channel): for an ungrouped Conv, conv(x/s, W·s) = conv(x, W) with s per input channel (axis 1) and every
/// kernel weight of channel j times s_j (zero padding stays zero). 1/s folds into the previous Conv's output channels
/// and bias (also through Relu, LeakyRelu, MaxPool, Identity, which commute with a positive per-channel scale), a
/// BatchNormalization's scale and bias, a Mul by a per-channel constant, or an explicit Mul by a [C, 1, 1] constant
/// (after HardSwish, Sigmoid…). Grouped and depthwise convolutions are not smoothed (their reader makes the group
/// refuse, "other readers"); with <c>alpha: auto</c> a Conv group keeps 0.5 (counted <c>auto-conv-0.5</c>).
/// </para>
/// <para>
/// Statistics: the per-channel abs-max of every candidate activation, collected by the pass itself on the model as it is
/// (<see cref="CalibratePass.Collect"/> over <c>--data</c>), so it runs alone (<c>passes: [smooth-quant]</c>) or before
/// the calibrate step of a quantizing recipe, which then calibrates the smoothed model. With <c>alpha: auto</c> the
/// same run samples the rows the search measures on (<see cref="SmoothQuantRowSampler"/>, the collector's tap), so the
/// model runs over the data once. On a model larger than memory (<c>block-wise: auto</c> above 2 GB of weights, or
/// <c>on</c>; <c>--block-wise</c> overrides) that run is the calibrator's block-wise runner: each activation is planned
/// (statistics, α, s) when the block computing it has run and its rows are dropped, and the rewrites follow when every
/// group is planned, so memory is about one block's; the plans, and so the output bytes, are the whole-model run's
/// (test <c>SmoothQuantBlockWiseTests</c>).
/// </para>
/// <para>
/// Preconditions: a float model (float activations), MatMul (2-D constant weight) or Gemm (transA = 0) layers; the
/// activation's channels are its last axis. Does not fire on an activation (each reason counted in the pass's misses,
/// pattern <c>smooth</c>) when it is a graph output or has a reader other than such a layer (it would see the scaled
/// tensor), when a layer's weight is shared with a node outside the group (shared constants are never changed in
/// place), when the activation has no calibrated statistics (no name, or never computed on the data), when every
/// channel of X or of the weights is zero, or when nothing absorbs 1/s and <c>explicit-mul</c> is off. A single channel
/// with max|X_j| = 0 or max|B_j| = 0 keeps s_j = 1 (counted as <c>zero-channels</c>).
/// </para>
/// <para>
/// <c>alpha: auto</c>: per activation, the α on 0, 0.05, …, 1 whose s gives the least output error of its layers under
/// the quantizer the recipe's following calibrate and insert-qdq steps apply (<see cref="SmoothQuantQuantizer"/>;
/// their defaults when the pass runs alone), measured on sampled activation rows
/// (<see cref="SmoothQuantAlphaSearch"/>); each choice is counted (<c>auto-alpha-0.35</c>) and logged with its error
/// and the error at 0.5. An activation with no sampled rows keeps 0.5 (<c>auto-no-rows</c>). The search stops an α as
/// soon as its partial error exceeds the best so far (counted <c>auto-stopped-early</c>): the same choice, less work.
/// </para>
/// <para>
/// <c>explicit-mul-min-gain</c> (with <c>alpha: auto</c>; off when negative, the default): an explicit Mul costs a pass
/// over the tensor at run time (ppocr's 24 Muls after HardSwish cost 6% of its latency), so it is inserted only where
/// smoothing lowers its layers' output error on the sampled rows by at least that fraction (1 − error at the chosen α /
/// error unsmoothed; a pointwise Conv group is measured at its α 0.5, its pixels as rows); otherwise the activation is
/// left alone (a miss with that reason). Groups whose error is not measured (k×k convolutions) keep their Mul.
/// </para>
/// </summary>
public sealed class SmoothQuantPass : Pass<SmoothQuantOptions>
{
    public override string Name => "smooth-quant";

    public override string Summary => "SmoothQuant: divide activations by per-channel s and multiply the weight rows by s (s from calibrated abs-max), folding 1/s into LayerNorm/RMS norm/the previous layer or a Mul.";

    /// <summary>It collects its own statistics (it runs before the calibrate step that serves the quantizer); its edits change values.</summary>
    public override StatisticsUse Statistics => StatisticsUse.None;

    private const string Pattern = "smooth";

    public override PassResult Run(Model model, SmoothQuantOptions options, PassContext context)
    {
        double? fixedAlpha = options.FixedAlpha();
        var graph = model.Graph;
        var groups = new List<SmoothQuantGroup>();
        foreach (var group in SmoothQuantGroup.Candidates(graph, options.Conv))
        {
            if (group.Refusal() is { } why) context.RecordMiss(Pattern, why, group.Layers.Count);
            else if (group.Activation.Name is null) context.RecordMiss(Pattern, "the activation has no name, so it cannot be calibrated", group.Layers.Count);
            else groups.Add(group);
        }
        if (groups.Count == 0) return PassResult.Unchanged;

        // alpha: auto measures its error on actual activation rows (see SmoothQuantAlphaSearch for why not XᵀX); the
        // calibration run that gives every group's per-channel statistics samples them as it goes (SmoothQuantRowSampler).
        // Pointwise (1×1) Conv groups are sampled too (their rows are pixels), for the explicit-Mul rule below; other Conv
        // groups keep 0.5.
        var phase = new PhaseClock();
        bool gainRule = options.ExplicitMul && options.ExplicitMulMinGain >= 0;
        var sampler = new SmoothQuantRowSampler(fixedAlpha is null
            ? groups.Where(g => !g.IsConv || gainRule && g.Span == 1).Select(g => (g.Activation, g.ChannelAxis)) : [], options.AutoRows);
        var requests = new StatisticsRequests();
        foreach (var group in groups) requests.ChannelAbsMax(group.Activation, group.ChannelAxis);

        // Every s from the original weights first: a layer may be both in a group and the producer another group's
        // 1/s folds into, and row and column scalings commute. So each group is planned (statistics, α search, s) as
        // soon as its activation's statistics are complete, and all rewrites wait until every group is planned: on a
        // block-wise run (a model larger than memory) a group is planned when the block computing its activation has
        // run, and its rows are dropped then, so at most one block's rows exist at once; on a whole-model run, after it.
        // Either way the plans and the rewrites (in group order) are the same, so the same bytes.
        var quantizer = fixedAlpha is null ? SmoothQuantQuantizer.Following(context) : SmoothQuantQuantizer.Default;
        if (fixedAlpha is null) context.Log($"{Name}: alpha auto measures the error under {quantizer}.");
        var planned = new Dictionary<SmoothQuantGroup, (float[] Scale, double Gain)?>();
        var searching = new PhaseClock.Accumulator();
        void PlanAll(CalibrationResult statistics)
        {
            using var measuring = searching.Measure();
            foreach (var group in groups)
                if (!planned.ContainsKey(group) && statistics.TryGetStatistics(group.Activation, out _))
                    planned[group] = Plan(group, statistics, sampler.Samples(group.Activation) ? sampler.Take(group.Activation) : null,
                        fixedAlpha, quantizer, gainRule, options, context);
            // On a model larger than memory, the rows and weight rows just used are large-object garbage, collected only in
            // full GCs (as awq does after each unit).
            if (model.Streams) GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        }
        var remaining = CalibratePass.Collect(model, requests, new RangeOptions(), context, (_, statistics) => PlanAll(statistics),
            new CalibrateOptions { BlockWise = options.BlockWise, BlockMb = options.BlockMb }, sampler.Observe);
        int streamed = planned.Count;
        PlanAll(remaining);
        foreach (var group in groups.Where(g => !planned.ContainsKey(g)))
            planned[group] = Plan(group, remaining, null, fixedAlpha, quantizer, gainRule, options, context); // records the miss
        var plans = groups.Where(g => planned.GetValueOrDefault(g) is not null).Select(g => (Group: g, planned[g]!.Value.Scale, planned[g]!.Value.Gain)).ToList();
        string runTime = phase.Lap(minus: searching);
        if (streamed > 0) context.Log($"{Name}: {streamed} of {groups.Count} activations planned block by block, as soon as their blocks had run.");

        string searchTime = searching.ToString();
        var rewriter = new Rewriter(graph);
        int changed = 0;
        foreach (var (group, scale, gain) in plans)
        {
            var inverse = scale.Select(v => 1f / v).ToArray();
            var x = group.Activation;
            var nodes = group.Layers.Select(l => l.Node).ToList();
            int rank = group.IsConv ? group.Layers[0].WeightTensor.Rank : 0;
            if ((group.IsConv ? SmoothQuantAbsorber.TryAbsorbConvInput(rewriter, x, inverse, rank) : SmoothQuantAbsorber.TryAbsorb(rewriter, x, inverse)) is { } how)
                context.Count(how);
            else if (options.ExplicitMul && gainRule && gain < options.ExplicitMulMinGain)
            {
                // A Mul costs a pass over the tensor at run time: only worth it where smoothing measurably pays.
                context.Log(FormattableString.Invariant($"{Name}: {x.Name}: no explicit Mul: smoothing lowers the layers' output error by {gain:P1} on the sampled rows (explicit-mul-min-gain {options.ExplicitMulMinGain:0.###})."));
                context.RecordMiss(Pattern, "only an explicit Mul could absorb 1/s and smoothing lowers the layers' output error by less than explicit-mul-min-gain", nodes.Count);
                continue;
            }
            else if (options.ExplicitMul)
            {
                if (!double.IsNaN(gain)) context.Log(FormattableString.Invariant($"{Name}: {x.Name}: explicit Mul: smoothing lowers the layers' output error by {gain:P1} on the sampled rows."));
                // [K] broadcasts along the last axis; a Conv's NC… input needs [C, 1, …, 1].
                long[] dims = group.IsConv ? [inverse.Length, .. Enumerable.Repeat(1L, rank - 2)] : [inverse.Length];
                var mul = new Node("Mul", [x, rewriter.AddWeight(Tensor.FromFloats(inverse, dims), $"{x.Name}_smooth_inv")]);
                mul.Outputs[0]!.Name = rewriter.FreshName($"{x.Name}_smoothed");
                mul.Outputs[0]!.Type = x.Type;
                rewriter.InsertAfterProducer(x, mul);
                foreach (var node in nodes) rewriter.SetInput(node, 0, mul.Outputs[0]);
                context.Count("mul");
            }
            else
            {
                context.RecordMiss(Pattern, "nothing before the activation absorbs 1/s and explicit-mul is off", nodes.Count);
                continue;
            }
            // Re-read the layers: an earlier group may have given one of them a new weight (its output columns).
            var layers = nodes.Select(n => LinearLayer.TryRead(n, out var l) is null ? l! : throw new InvalidOperationException($"{n} is no longer a linear layer.")).ToList();
            foreach (var byWeight in layers.GroupBy(l => l.Weight))
            {
                var first = byWeight.First();
                var rows = first.ReadRows();
                group.ScaleRows(rows, first, scale);
                LinearLayer.ReplaceWeight(rewriter, byWeight.ToList(), first.WeightFromRows(rows));
            }
            changed += nodes.Count;
        }
        context.Count("layers", changed);
        if (changed > 0) context.Log($"{Name}: smoothed {changed} layers on {plans.Count} activations (alpha {options.Alpha}).");
        context.Log($"{Name}: time (wall / process CPU): model run {runTime}, scales{(fixedAlpha is null ? " and alpha search" : "")} {searchTime}, weight rewrite {phase.Lap()}.");
        return changed > 0 ? PassResult.Changed : PassResult.Unchanged;
    }

    /// <summary>
    /// One group's s (and the explicit-Mul gain, NaN where not measured) from its activation's per-channel statistics in
    /// <paramref name="statistics"/> and, for <c>alpha: auto</c>, its sampled <paramref name="sampledRows"/> (null: not
    /// sampled); null when the group is left alone (the miss recorded). Reads only the original weights.
    /// </summary>
    private (float[] Scale, double Gain)? Plan(SmoothQuantGroup group, CalibrationResult statistics, float[][]? sampledRows, double? fixedAlpha,
        SmoothQuantQuantizer quantizer, bool gainRule, SmoothQuantOptions options, PassContext context)
    {
        if (!statistics.TryGetStatistics(group.Activation, out var t) || t.Channels is not { } channels)
        {
            context.RecordMiss(Pattern, "no calibrated statistics for the activation (it was not computed on the data)", group.Layers.Count);
            return null;
        }
        var xMax = channels.AbsMax();
        if (xMax.Length != group.K)
        {
            context.RecordMiss(Pattern, group.IsConv ? "the activation's axis 1 is not the convolutions' input channels"
                : "the activation's last axis is not the layers' input channels", group.Layers.Count);
            return null;
        }
        // The α search needs the rows too: read them once.
        var rows = sampledRows is not null ? group.Layers.Select(l => l.ReadRows()).ToList() : null;
        var wMax = rows is null ? group.WeightChannelAbsMax() : group.WeightChannelAbsMax(rows);
        // gain: how much smoothing lowers the layers' output error on the sampled rows (1 − error / unsmoothed error);
        // NaN where it was not measured.
        double gain = double.NaN;
        var probe = sampledRows is not null && sampledRows.Length > 0 && Scales(xMax, wMax, 0.5, out _) is not null
            ? new SmoothQuantErrorProbe(sampledRows, group.Layers.Select((l, i) => new SmoothQuantAlphaSearch.Layer(rows![i], l.OutputChannels, l.K)).ToList(), options.AutoColumns, quantizer)
            : null;
        var minMax = channels.MinMax;
        double[] lows = minMax.Select(m => m.Min).ToArray(), highs = minMax.Select(m => m.Max).ToArray();
        double? chosen = null;
        // The α search measures x·B on activation rows; a convolution's rows would be im2col patches: it keeps 0.5
        // (a pointwise one's rows are pixels: its error at 0.5 is measured for the explicit-Mul rule).
        if (fixedAlpha is null && group.IsConv)
        {
            context.Count("auto-conv-0.5");
            if (probe is not null) gain = 1 - probe.Error(lows, highs, Scales(xMax, wMax, 0.5, out _)!) / probe.Unsmoothed(lows, highs);
        }
        else if (fixedAlpha is null && sampledRows!.Length == 0) context.Count("auto-no-rows");
        else if (fixedAlpha is null && probe is not null)
        {
            var (alpha, _, errors) = SmoothQuantAlphaSearch.Choose(probe, lows, highs, xMax, wMax, bounded: true);
            double atHalf = errors[Array.IndexOf(SmoothQuantAlphaSearch.Grid, 0.5)];
            context.Count("auto-stopped-early", errors.Count(double.IsPositiveInfinity));
            if (gainRule) gain = 1 - errors.Min() / probe.Unsmoothed(lows, highs);
            context.Count($"auto-alpha-{alpha.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)}");
            context.Log(FormattableString.Invariant($"{Name}: {group.Activation.Name}: alpha {alpha:0.00} (error {errors.Min():G4}; at 0.5: {atHalf:G4}) over {sampledRows!.Length} rows."));
            chosen = alpha;
        }
        double groupAlpha = fixedAlpha ?? chosen ?? 0.5;
        if (Scales(xMax, wMax, groupAlpha, out int zero) is not { } scale)
        {
            context.RecordMiss(Pattern, "every channel of the activation or of the weights is zero", group.Layers.Count);
            return null;
        }
        if (zero > 0) context.Count("zero-channels", zero);
        return (scale, gain);
    }

    /// <summary>
    /// s_j = xMax_j^α / wMax_j^(1−α); 1 where either is zero or s is not finite (<paramref name="zero"/> counts those);
    /// null when every channel is so.
    /// </summary>
    public static float[]? Scales(double[] xMax, double[] wMax, double alpha, out int zero)
    {
        var s = new float[xMax.Length];
        zero = 0;
        for (int j = 0; j < s.Length; j++)
        {
            double v = Math.Pow(xMax[j], alpha) / Math.Pow(wMax[j], 1 - alpha);
            if (xMax[j] > 0 && wMax[j] > 0 && double.IsFinite(v) && (float)v is > 0 and < float.PositiveInfinity) s[j] = (float)v;
            else
            {
                s[j] = 1;
                zero++;
            }
        }
        return zero == s.Length ? null : s;
    }
}
