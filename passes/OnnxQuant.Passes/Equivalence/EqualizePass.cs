using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Equivalence;

/// <summary>
/// Cross-layer equalization (Nagel et al., "Data-Free Quantization Through Weight Equalization and Bias Correction",
/// ICCV 2019). For layers y = f(x·W1 + b1)·W2 + b2 with f positively homogeneous per channel (Relu, LeakyRelu,
/// MaxPool, Identity: f(x/s) = f(x)/s for s &gt; 0),
/// <code>
/// f(x·W1 + b1)·W2 = f(x·W1·S⁻¹ + b1·S⁻¹)·(S·W2)        S = diag(s), s_i = √(r1_i / r2_i)
/// </code>
/// exactly in real arithmetic, where r1_i = max |W1| over output channel i and r2_i = max |W2| over input channel i;
/// afterwards both ranges are √(r1_i·r2_i), which a per-tensor (or per-channel activation-free) quantizer represents
/// with less error. Layers are MatMul, Gemm (transA = 0) and Conv read through <see cref="LinearLayers.LinearLayer"/>:
/// grouped and depthwise convolutions scale each channel within its group. Chains (conv → relu → conv → relu → conv)
/// are swept until no scale differs from 1 by more than the tolerance or max-iterations sweeps ran; the weights are
/// kept in double while sweeping and rounded to their stored type once. Through a Concat along the channel axis (a
/// U-Net skip connection) each branch's producer is paired with its slice of the consumer's input rows; branches that
/// are no linear layer keep their scale of 1.
/// </para>
/// <para>
/// Which ranges are balanced (<c>balance</c>): the paper's r1 assumes per-tensor weights. When the following
/// <c>insert-qdq</c> quantizes weights per output channel (the presets do), layer 1's weight error does not depend on
/// s at all, and what shares a quantizer range with layer 2's input rows is the per-tensor quantized activation between
/// the layers; weight-balanced scales can then blow up that activation's range (ppocr: 78.5% exact match without bias
/// correction against 98.0% unequalized). So <c>balance: auto</c> (default) with <c>--data</c> and per-channel weights
/// uses r1_i = max |x_i|, the calibrated range of channel i of the tensor layer 2 reads (divided by the scales applied
/// so far), giving s_i = √(max|x_i| / r2_i): both then have range √(max|x_i|·r2_i), SmoothQuant's α = 0.5 balance
/// folded through the positively homogeneous ops. Without data, or with per-tensor weights, or <c>balance: weights</c>,
/// r1 is layer 1's weight range as in the paper. Pairs balanced by activations are counted
/// <c>balanced-by-activations</c>. A channel layer 2 does not read (zero input rows) is shrunk to the smallest balanced
/// range of the pair's other channels (exact for any scale), so a dead outlier channel no longer sets the tensor's range.
/// </para>
/// <para>
/// High-bias absorption (same paper, §4.1; <c>absorb-high-bias</c>, on by default, needs <c>--data</c>): with c_i =
/// max(0, min x_i) the calibrated lower bound of layer 1's pre-activation channel i (after equalization),
/// f(x − c)·W2 + (b2 + c·W2) = f(x)·W2 + b2 whenever x_i ≥ c_i, because every op in between (Relu, LeakyRelu, MaxPool,
/// Identity, Concat) is the identity or a max there; so b1_i ← b1_i − c_i and b2 ← b2 + Σ_i c_i·W2[·, i] (a Conv's
/// kernel summed). It is exact on the calibration data and on any input whose pre-activations stay above the bounds;
/// it narrows the activation's range by c_i where ReLU never clips. It needs layer 2 to be a Gemm (beta ≠ 0) or a
/// Conv without padding (padding zeros are not shifted), and is counted as <c>absorbed-channels</c>; without data it
/// is skipped (counted <c>absorb-no-data</c>) and the misses are recorded under <c>absorb</c>.
/// </para>
/// <para>
/// Preconditions: weights (and layer 1's bias) are constants, so run <c>constants</c> and <c>fold-batch-norm</c> first
/// (the <c>cleanup</c> passes do). Only the main graph is searched.
/// </para>
/// <para>
/// Does not fire (the reason is counted under <c>equalize.pair</c> in <c>--stats</c>) when a tensor between the layers
/// passes through an op that does not commute with a per-channel scale (Sigmoid, Tanh, HardSwish, Gelu, Clip, any
/// normalization, average pooling…), has a second consumer or is a graph output (that reader would see the scaled
/// tensor), a weight is shared with another node, the two layers' channel axes differ (Conv into Gemm), a MatMul
/// weight is batched, layer 1's bias is not a per-channel constant, or a Concat is not along the channel axis or an
/// input's channel count is unknown. Weights and biases get new constants: a shared constant is never changed in
/// place.
/// </para>
/// </summary>
public sealed class EqualizePass : Pass<EqualizeOptions>
{
    public override string Name => "equalize";
    public override string Summary => "Cross-layer equalization: rescale Conv/Gemm/MatMul pairs through Relu/MaxPool so per-channel weight ranges match (exact).";

    public override PassResult Run(Model model, EqualizeOptions options, PassContext context)
    {
        if (options.MaxIterations < 1)
            throw new OnnxQuantException($"{Name}: max-iterations is {options.MaxIterations}; set it to 1 or more.");
        if (!(options.Tolerance >= 0))
            throw new OnnxQuantException($"{Name}: tolerance is {options.Tolerance}; set it to 0 or a positive number.");

        var graph = model.Graph;
        var layers = new Dictionary<Node, EqualizationLayer>();
        EqualizationLayer Layer(LinearLayers.LinearLayer l) =>
            layers.TryGetValue(l.Node, out var e) ? e : layers[l.Node] = new EqualizationLayer(l, l.ReadBias() ?? new float[l.OutputChannels]);
        var pairs = new List<(EqualizationLayer Producer, EqualizationLayer Consumer, EqualizationPair Pair)>();
        foreach (var node in graph.Nodes.ToList())
        {
            var pair = EqualizationPair.Find(node, out var reason);
            if (pair is not null) pairs.Add((Layer(pair.Producer), Layer(pair.Consumer), pair));
            else if (reason is not null) context.RecordMiss("pair", reason);
        }
        if (pairs.Count == 0) return PassResult.Unchanged;

        var settings = context.GetAnalysis<CalibrationSettings>();
        bool hasData = settings?.Samples is not null || settings?.Data is not null;
        bool byActivations = options.Balance switch
        {
            EqualizeBalance.Weights => false,
            EqualizeBalance.Activations => hasData ? true
                : throw new OnnxQuantException($"{Name}: balance: activations needs calibration data; pass --data, or use balance: weights."),
            _ => hasData && SmoothQuantQuantizer.Following(context).PerChannelWeights,
        };

        // One calibration run serves both the activation balance and high-bias absorption (before any edit).
        var absorbable = new List<int>();
        if (options.AbsorbHighBias)
            for (int p = 0; p < pairs.Count; p++)
                if (AbsorptionRefusal(pairs[p].Consumer, pairs[p].Pair) is { } why) context.RecordMiss("absorb", why);
                else absorbable.Add(p);
        CalibrationResult? statistics = null;
        if (hasData && (byActivations || absorbable.Count > 0))
        {
            var requests = new StatisticsRequests();
            if (byActivations)
                foreach (var (_, consumer, _) in pairs)
                    if (consumer.Layer.Node.Inputs[0] is { Name: not null } input)
                        requests.ChannelAbsMax(input, consumer.Layer.Node.OpType == "Conv" ? 1 : -1);
            foreach (int p in absorbable)
                requests.ChannelAbsMax(pairs[p].Pair.Producer.Node.Outputs[0]!, pairs[p].Producer.Layer.Node.OpType == "Conv" ? 1 : -1);
            statistics = CalibratePass.Collect(model, requests, new RangeOptions(), context);
        }
        // Per pair, the calibrated max |x| of each of layer 1's channels where layer 2 reads them (null: weight rule).
        var activationRanges = new double[]?[pairs.Count];
        if (byActivations)
            for (int p = 0; p < pairs.Count; p++)
            {
                var (producer, consumer, pair) = pairs[p];
                if (consumer.Layer.Node.Inputs[0] is not { } input || !statistics!.TryGetStatistics(input, out var t) || t.Channels is null
                    || t.Channels.Channels != consumer.InputChannels)
                {
                    context.RecordMiss("balance", "no per-channel statistics for the tensor layer 2 reads: balanced against layer 1's weights");
                    continue;
                }
                activationRanges[p] = statistics.ChannelAbsMax(input).Skip(pair.Offset).Take(producer.OutputChannels).ToArray();
            }

        var changedPairs = new HashSet<int>();
        int sweeps = 0;
        for (; sweeps < options.MaxIterations; sweeps++)
        {
            double largest = 0;
            for (int p = 0; p < pairs.Count; p++)
            {
                var (producer, consumer, pair) = pairs[p];
                // Per-channel weights make layer 1's weight error blind to s: what competes with layer 2's
                // input rows for range is then the per-tensor quantized activation between them.
                double R1(int c) => activationRanges[p] is { } a ? a[c] / producer.OutputDivisor[c] : producer.OutputRange(c);
                double R2(int c) => consumer.InputRange(pair.Offset + c);
                // A channel layer 2 does not read (its input rows are zero: pruned or dead) is shrunk to the smallest
                // balanced range of the others, which is exact for any scale; left at its own range it would only widen
                // the shared quantizer range of the tensor (one channel 1000× the others leaves them all at zero).
                double smallestBalanced = Enumerable.Range(0, producer.OutputChannels)
                    .Select(c => (R1: R1(c), R2: R2(c))).Where(r => r.R1 > 0 && r.R2 > 0 && double.IsFinite(r.R1) && double.IsFinite(r.R2))
                    .Select(r => Math.Sqrt(r.R1 * r.R2)).DefaultIfEmpty(0).Min();
                for (int c = 0; c < producer.OutputChannels; c++)
                {
                    double r1 = R1(c), r2 = R2(c);
                    double s;
                    if (r2 == 0 && r1 > smallestBalanced && smallestBalanced > 0 && double.IsFinite(r1)) s = r1 / smallestBalanced;
                    // A channel with no weight on one side carries nothing to balance.
                    else if (!(r1 > 0 && r2 > 0) || double.IsInfinity(r1) || double.IsInfinity(r2)) continue;
                    else s = Math.Sqrt(r1 / r2);
                    double change = Math.Abs(s - 1);
                    if (change <= options.Tolerance) continue;
                    largest = Math.Max(largest, change);
                    producer.DivideOutput(c, s);
                    consumer.MultiplyInput(pair.Offset + c, s);
                    changedPairs.Add(p);
                }
            }
            if (largest <= options.Tolerance) break;
        }
        int absorbed = 0;
        if (absorbable.Count > 0)
        {
            if (statistics is null)
            {
                context.Count("absorb-no-data");
                context.RecordMiss("absorb", "no calibration data (--data) to bound the pre-activations", absorbable.Count);
            }
            else absorbed = AbsorbHighBias(pairs, absorbable, statistics, changedPairs, context);
        }
        if (changedPairs.Count == 0) return PassResult.Unchanged;

        var rewriter = new Rewriter(graph);
        var producers = pairs.Select(p => p.Producer).ToHashSet();
        // In graph order, so the new constants' names and order are the same on every run.
        foreach (var node in graph.Nodes.ToList())
            if (layers.TryGetValue(node, out var layer) && layer.Changed)
                layer.Write(rewriter, writeBias: producers.Contains(layer));
        foreach (int p in changedPairs.Order())
            context.Log($"equalize: {Describe(pairs[p].Pair.Producer.Node)} → {Describe(pairs[p].Pair.Consumer.Node)} " +
                        $"through {(pairs[p].Pair.Between.Count == 0 ? "nothing" : string.Join(", ", pairs[p].Pair.Between.Select(n => n.OpType)))}" +
                        (activationRanges[p] is null ? " (weight ranges)" : " (activation ranges)"));
        context.Count("pairs", changedPairs.Count);
        int balancedByActivations = activationRanges.Count(a => a is not null);
        if (balancedByActivations > 0) context.Count("balanced-by-activations", balancedByActivations);
        if (absorbed > 0) context.Count("absorbed-channels", absorbed);
        context.Count("sweeps", Math.Min(sweeps + 1, options.MaxIterations));
        context.Log($"equalize: {changedPairs.Count} of {pairs.Count} layer pair(s) rescaled in {Math.Min(sweeps + 1, options.MaxIterations)} sweep(s), " +
                    $"{balancedByActivations} balanced against calibrated activation ranges, {pairs.Count - balancedByActivations} against weight ranges" +
                    (absorbed > 0 ? $"; {absorbed} high-bias channel(s) absorbed." : "."));
        return PassResult.From(true);
    }

    private static string Describe(Node node) => $"{node.OpType} '{node.Name ?? node.Outputs[0]?.Name}'";

    /// <summary>
    /// Why the pair's pre-activation shift cannot move into layer 2's bias exactly (see the class comment), or null.
    /// </summary>
    private static string? AbsorptionRefusal(EqualizationLayer consumer, EqualizationPair pair)
    {
        var node = consumer.Layer.Node;
        if (pair.Producer.Node.Outputs[0]?.Name is null) return "layer 1's output has no name, so it cannot be calibrated";
        if (consumer.Layer.ReadBias() is null) return "layer 2's bias is not a per-channel constant";
        if (node.OpType == "MatMul") return "layer 2 is a MatMul, which has no bias to absorb the shift";
        if (node.OpType == "Gemm" && consumer.Layer.Beta == 0) return "layer 2 is a Gemm with beta = 0, whose bias is ignored";
        if (node.OpType == "Conv")
        {
            string autoPad = node.GetString("auto_pad", "NOTSET");
            if (autoPad is not ("NOTSET" or "VALID") || node.GetInts("pads") is { } pads && pads.Any(p => p != 0))
                return "layer 2 is a Conv with padding (its zero padding would not be shifted)";
        }
        return null;
    }

    /// <summary>
    /// High-bias absorption over the equalized pairs: reads each eligible pair's pre-activation bounds (calibrated on
    /// the model before any edit, then divided by the equalization scales) and moves c = max(0, min) from layer 1's
    /// bias to layer 2's.
    /// Returns the number of channels shifted; marks the pairs it changed.
    /// </summary>
    private static int AbsorbHighBias(List<(EqualizationLayer Producer, EqualizationLayer Consumer, EqualizationPair Pair)> pairs,
        List<int> eligible, CalibrationResult statistics, HashSet<int> changedPairs, PassContext context)
    {
        int absorbed = 0;
        foreach (int p in eligible)
        {
            var (producer, consumer, pair) = pairs[p];
            var output = pair.Producer.Node.Outputs[0]!;
            if (!statistics.TryGetStatistics(output, out var s) || s.Channels is not { } channels || channels.Channels != producer.OutputChannels)
            {
                context.RecordMiss("absorb", "no per-channel statistics for layer 1's output");
                continue;
            }
            for (int c = 0; c < producer.OutputChannels; c++)
            {
                // The pre-activation as the rewritten layer 1 computes it: divided by its equalization scale.
                double lower = channels.MinMax[c].Min / producer.OutputDivisor[c];
                if (!(lower > 0) || !double.IsFinite(lower)) continue;
                producer.ShiftBias(c, lower);
                consumer.AbsorbInputShift(pair.Offset + c, lower);
                absorbed++;
                changedPairs.Add(p);
            }
        }
        return absorbed;
    }
}
