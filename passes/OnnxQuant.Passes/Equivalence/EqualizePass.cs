using OnnxQuant.Ir;
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
/// kept in double while sweeping and rounded to their stored type once.
/// <para>
/// Preconditions: weights (and layer 1's bias) are constants, so run <c>constants</c> and <c>fold-batch-norm</c> first
/// (the <c>cleanup</c> passes do). Only the main graph is searched.
/// </para>
/// <para>
/// Does not fire (the reason is counted under <c>equalize.pair</c> in <c>--stats</c>) when a tensor between the layers
/// passes through an op that does not commute with a per-channel scale (Sigmoid, Tanh, HardSwish, Gelu, Clip, any
/// normalization, average pooling…), has a second consumer or is a graph output (that reader would see the scaled
/// tensor), a weight is shared with another node, the two layers' channel axes differ (Conv into Gemm), a MatMul
/// weight is batched, layer 1's bias is not a per-channel constant, or a Concat joins branches (equalizing each branch
/// against its slice of the consumer's input rows is not implemented). Weights and biases get new constants: a shared
/// constant is never changed in place.
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
            layers.TryGetValue(l.Node, out var e) ? e : layers[l.Node] = new EqualizationLayer(l, l.ReadBias()!);
        var pairs = new List<(EqualizationLayer Producer, EqualizationLayer Consumer)>();
        foreach (var node in graph.Nodes.ToList())
        {
            var pair = EqualizationPair.Find(node, out var reason);
            if (pair is not null) pairs.Add((Layer(pair.Producer), Layer(pair.Consumer)));
            else if (reason is not null) context.RecordMiss("pair", reason);
        }
        if (pairs.Count == 0) return PassResult.Unchanged;

        var changedPairs = new HashSet<int>();
        int sweeps = 0;
        for (; sweeps < options.MaxIterations; sweeps++)
        {
            double largest = 0;
            for (int p = 0; p < pairs.Count; p++)
            {
                var (producer, consumer) = pairs[p];
                for (int c = 0; c < producer.OutputChannels; c++)
                {
                    double r1 = producer.OutputRange(c), r2 = consumer.InputRange(c);
                    // A channel with no weight on one side carries nothing to balance.
                    if (!(r1 > 0 && r2 > 0) || double.IsInfinity(r1) || double.IsInfinity(r2)) continue;
                    double s = Math.Sqrt(r1 / r2);
                    double change = Math.Abs(s - 1);
                    if (change <= options.Tolerance) continue;
                    largest = Math.Max(largest, change);
                    producer.DivideOutput(c, s);
                    consumer.MultiplyInput(c, s);
                    changedPairs.Add(p);
                }
            }
            if (largest <= options.Tolerance) break;
        }
        if (changedPairs.Count == 0) return PassResult.Unchanged;

        var rewriter = new Rewriter(graph);
        var producers = pairs.Select(p => p.Producer).ToHashSet();
        // In graph order, so the new constants' names and order are the same on every run.
        foreach (var node in graph.Nodes.ToList())
            if (layers.TryGetValue(node, out var layer) && layer.Changed)
                layer.Write(rewriter, writeBias: producers.Contains(layer));
        context.Count("pairs", changedPairs.Count);
        context.Count("sweeps", Math.Min(sweeps + 1, options.MaxIterations));
        context.Log($"equalize: {changedPairs.Count} of {pairs.Count} layer pair(s) rescaled in {Math.Min(sweeps + 1, options.MaxIterations)} sweep(s).");
        return PassResult.From(true);
    }
}
