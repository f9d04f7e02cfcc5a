using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Quantization.Rounding;

namespace OnnxQuant.Passes.Quantization.WeightOnly;

/// <summary>
/// Weight-only quantization (int2/int4/int8, per block along K or per channel, symmetric or asymmetric) of MatMul and
/// Gemm with a constant 2-D weight (read through <see cref="LinearLayers.LinearLayer"/>), the LM head and embedding
/// Gathers; codes chosen by the recipe's <c>rounding</c> (<see cref="Rounding.IWeightRounder"/>; round-to-nearest by default). Identity relied on:
/// y = x·W ≈ x·Ŵ with Ŵ[k, n] = (q[k, n] − z[b, n])·s[b, n], b = k / block; ONNX Runtime computes x·Ŵ from the packed
/// codes (ALGORITHMS.md §6). Activations stay float (accuracy level 0) or are quantized to int8 per block inside
/// MatMulNBits (level 4, W4A8 on CPU).
/// <list type="bullet">
/// <item>format matmulnbits: MatMul/Gemm → com.microsoft MatMulNBits (B packed [N][⌈K/bs⌉][bs·bits/8], K padded
/// with zeros; scales [N, blocks] in the model's float type; zero points only when asymmetric). Gemm: transB handled,
/// alpha folded into the weight before quantization (so into the scales), a constant [N] C (× beta) becomes the
/// bias input, any other C an Add after (beta ≠ 1 on a non-constant C is refused).</item>
/// <item>format dq: a blocked DequantizeLinear (opset 21, int4/int8 or uint4/uint8 with zero points) feeds the
/// unchanged MatMul/Gemm. ONNX Runtime fuses DQ(int4)→MatMul into MatMulNBits at the level of its session option
/// <c>session.qdq_matmulnbits_accuracy_level</c> (default 4): use matmulnbits to pin the level.</item>
/// <item>lm-head: the last MatMul/Gemm feeding the logits output (the output named like <c>logits</c>, else the first),
/// through Reshape/Add/Cast/Identity/Squeeze/Unsqueeze; float, 8 or 4 bits (default 8).</item>
/// <item>embedding: Gather (axis 0) on a constant 2-D table: float (default), 8 or 4 bits, as com.microsoft
/// GatherBlockQuantized (format matmulnbits, bits 4 or 8, width a multiple of the block) else DequantizeLinear(blocked)
/// → Gather (opset 21).</item>
/// <item>Tied weights (one constant read by the embedding and the head, directly or through a Transpose) are
/// quantized once per layout: see <see cref="WeightOnlyRewriter"/>.</item>
/// </list>
/// Preconditions: format dq needs opset ≥ 21 (blocked DequantizeLinear, int4); float or float16 weights. Does not fire
/// on: non-constant weights (counted <c>non-constant-weight</c>), weights of rank ≠ 2, nodes inside If/Loop/Scan bodies
/// (<c>skipped-subgraph</c>), excluded nodes (<c>excluded</c>; by name, or by a denoiser's structure with
/// <c>exclude-conditioning-path</c>/<c>exclude-output-layers</c>, see <see cref="Diffusion.StructuralExclusions"/>), Gemm with transA = 1. A constant weight, bias or
/// table holding NaN/±∞ is refused, or with <c>non-finite: float</c> left float (<see cref="NonFiniteWeights"/>).
/// With <c>rounding: gptq</c> (<see cref="GptqRounder"/>) the pass reads the XᵀX of every quantized MatMul/Gemm's
/// input, so a calibrate step must come before it; a weight read through a Transpose, and embedding tables, are
/// rounded to nearest. <c>rounding: gptqt</c> (<see cref="GptqtRounder"/>, format dq only) binary-codes the weight and
/// feeds the MatMul/Gemm a standard-ONNX float decomposition (WeightOnlyRewriter.BinaryCoding.cs); weights stored
/// [N, K] stay float there. <c>gptq-sequential: true</c> collects each layer's XᵀX itself, layer by layer, on the
/// partly quantized model (<see cref="SequentialSecondMoments"/>), and then needs no calibrate step.
/// <c>clip-search: mse|output</c> (<see cref="ClipSearchedRounder"/>, GPTQ's <c>--mse</c> / AWQ's auto-clip) chooses
/// each block's scale by shrinking its range (f = 1 … 0.5 in steps of 1/40) for the least weight error, or the least
/// layer-output error eᵀ·XᵀX·e (<c>output</c>: a calibrate step before), then rounds on it; not with gptqt.
/// On a model whose weights are mapped from external data (<see cref="Model.Streams"/>: possibly larger than memory)
/// the pass streams: each weight's pages are released once read, what it makes goes to <see cref="Model.Scratch"/>, and
/// a full GC follows each weight, so peak memory is about one weight (docs/streaming.md); the bytes are unchanged.
/// </summary>
public sealed class QuantizeWeightsPass : Pass<QuantizeWeightsOptions>
{
    /// <summary>The first opset with blocked and int4 DequantizeLinear.</summary>
    public const long DqOpset = 21;

    private static readonly HashSet<string> PassThrough = new(StringComparer.Ordinal)
        { "Reshape", "Add", "Cast", "Identity", "Squeeze", "Unsqueeze", "Flatten" };

    public override string Name => "quantize-weights";
    public override string Summary => "Weight-only int2/int4/int8 (blocked RTN) for MatMul/Gemm, LM head and embeddings, as MatMulNBits or blocked DequantizeLinear.";

    /// <summary>With <c>rounding: gptq</c>: reads XᵀX of linear inputs (so needs a calibrate step before); else nothing.
    /// Either way a change invalidates every statistic.</summary>
    public override StatisticsUse StatisticsFor(QuantizeWeightsOptions options) =>
        ReadsSecondMoments(options) ? new StatisticsUse { Reads = StatisticKinds.SecondMoment } : Statistics;

    /// <summary>GPTQ/GPTQT (unless sequential) and <c>clip-search: output</c> read each layer input's calibrated XᵀX.</summary>
    private static bool ReadsSecondMoments(QuantizeWeightsOptions options) =>
        options.Rounding is WeightRounding.Gptq or WeightRounding.Gptqt && !options.GptqSequential || options.ClipSearch == WeightClipSearchMode.Output;

    /// <summary>With <c>rounding: gptq</c>: the XᵀX of the input of every MatMul/Gemm the pass may quantize.</summary>
    public override void RequestStatistics(Model model, QuantizeWeightsOptions options, StatisticsRequests requests)
    {
        if (!ReadsSecondMoments(options)) return;
        var s = WeightOnlySettings.From(options, Name);
        var head = FindHead(model.Graph, s.OpTypes);
        var structural = Diffusion.StructuralExclusions.Of(model.Graph, options.ExcludeConditioningPath, options.ExcludeOutputLayers);
        foreach (var node in model.Graph.Nodes)
        {
            if (!node.IsDefaultDomain || !s.OpTypes.Contains(node.OpType) || NameGlob.AnyMatches(s.ExcludeNodes, node) || structural.ContainsKey(node)) continue;
            if (node == head && s.HeadBits is null) continue;
            if (node.Inputs.Count < 2 || node.Inputs[0] is not { IsConstant: false } x || node.Inputs[1] is not { Const.Rank: 2 }) continue;
            if (LinearLayer.TryRead(node, out _) is null) requests.SecondMoment(x);
        }
    }

    public override PassResult Run(Model model, QuantizeWeightsOptions options, PassContext context)
    {
        var s = WeightOnlySettings.From(options, Name);
        long opset = model.GetOpset("") ?? 1;
        if (s.Format == WeightOnlyFormat.Dq && opset < DqOpset)
            throw new OnnxQuantException(
                $"{Name}: format dq writes blocked int{(s.Bits <= 4 ? 4 : 8)} DequantizeLinear, which needs opset >= {DqOpset}; the model has {opset}. " +
                $"Run 'upgrade-opset' (target-opset: {DqOpset}) before '{Name}' in the recipe, or use format: matmulnbits.");

        var head = FindHead(model.Graph, s.OpTypes);
        var rewriter = new WeightOnlyRewriter(model, s, context, Name, RounderFor(model, options, context));
        var structural = Diffusion.StructuralExclusions.Of(model.Graph, options.ExcludeConditioningPath, options.ExcludeOutputLayers);
        int quantized = 0;
        foreach (var node in QuantizationCandidates.Of(model, s.OpTypes, s.ExcludeNodes, context, Name, IsEmbedding))
        {
            if (Diffusion.StructuralExclusions.Skip(structural, node, context, Name)) continue;
            bool gather = IsEmbedding(node);
            int? bits = gather ? s.EmbeddingBits : node == head ? s.HeadBits : s.Bits;
            if (bits is not { } b)
            {
                context.Count(gather ? "embedding-float" : "lm-head-float");
                // Said in the normal output: on a model with one MatMul, that MatMul is the head and nothing is quantized.
                if (!gather)
                    context.Log($"{Name}: {node} produces the model's logits output, so it is taken as the LM head and stays float " +
                        "(lm-head: float); set lm-head: 8 or 4 to quantize it.");
                continue;
            }
            if (!NonFiniteWeights.Allows(node, options.NonFinite, context, Name)) continue;
            bool done = gather ? rewriter.TryQuantizeGather(node, b) : rewriter.TryQuantizeMatMul(node, b);
            // Streaming a model larger than memory: each weight leaves ~3 weight-sized arrays on the large-object heap,
            // which the GC otherwise lets pile up before a full collection (measured on 8 layers of the 2.7B shape:
            // 0.95 GiB peak without this and the one-copy read in WeightOnlyRewriter.Rows, 0.28 GiB with both). A
            // blocking collection per weight costs milliseconds.
            if (model.Streams) GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            if (!done) continue;
            quantized++;
            if (node == head) context.Count("lm-head");
        }
        rewriter.Finish();
        if (quantized > 0)
        {
            if (s.Format == WeightOnlyFormat.MatMulNBits && model.GetOpset(WeightOnlyRewriter.MsDomain) is null)
                model.SetOpset(WeightOnlyRewriter.MsDomain, 1);
            context.Count("quantized", quantized);
        }
        return PassResult.From(quantized > 0);
    }

    private IWeightRounder RounderFor(Model model, QuantizeWeightsOptions options, PassContext context)
    {
        if (options.ClipSearch != WeightClipSearchMode.Off && options.Rounding == WeightRounding.Gptqt)
            throw new OnnxQuantException($"{Name}: clip-search chooses the scales of a linear grid; rounding: gptqt searches its binary-coding scales itself. Drop clip-search, or use rounding: rtn or gptq.");
        var rounder = BaseRounderFor(model, options, context);
        if (options.ClipSearch == WeightClipSearchMode.Off) return rounder;
        if (options.ClipSearch == WeightClipSearchMode.Mse) return new ClipSearchedRounder(rounder, _ => null, context);
        var calibration = context.GetAnalysis<CalibrationResult>()
            ?? throw new OnnxQuantException($"{Name}: clip-search: output reads each layer's calibrated XᵀX; run a calibrate step (with --data) before '{Name}', or use clip-search: mse.");
        var calibratedInput = model.Graph.Nodes.Where(n => n.Inputs.Count > 0 && n.Inputs[0] is not null).ToDictionary(n => n, n => n.Inputs[0]!);
        return new ClipSearchedRounder(rounder, layer => layer is { Groups: 1 } && calibratedInput.GetValueOrDefault(layer.Node) is { } x
            && calibration.TryGetStatistics(x, out var st) && st.SecondMoment is not null ? calibration.SecondMoment(x).Matrix : null, context);
    }

    private IWeightRounder BaseRounderFor(Model model, QuantizeWeightsOptions options, PassContext context)
    {
        if (options.Rounding is not (WeightRounding.Gptq or WeightRounding.Gptqt))
        {
            if (options.GptqSequential)
                throw new OnnxQuantException($"{Name}: gptq-sequential calibrates layer by layer for rounding: gptq or gptqt; rounding is {options.Rounding.ToString().ToLowerInvariant()}.");
            return WeightRounders.For(options.Rounding);
        }
        // The refit is GPTQ's (like gptq-damp and gptq-act-order, read only by the rounders that use it): not GPTQT's.
        var settings = new GptqSettings(options.GptqDamp, options.GptqBlockSize, options.GptqActOrder, options.GptqRefitScales && options.Rounding == WeightRounding.Gptq);
        settings.Validate(Name);
        string rounding = options.Rounding == WeightRounding.Gptq ? "gptq" : "gptqt";
        Func<LinearLayer, (double[], long)> secondMoment;
        if (options.GptqSequential)
        {
            var sequential = new SequentialSecondMoments(model, context);
            secondMoment = sequential.Of;
        }
        else
        {
            var calibration = context.GetAnalysis<CalibrationResult>()
                ?? throw new OnnxQuantException($"{Name}: rounding: {rounding} reads each layer's calibrated XᵀX; run a calibrate step (with --data) before '{Name}'.");
            // The inputs as calibrated: a layer reading another layer's output reads, once that one is rewritten, the
            // output of its replacement, which calibration never saw (the values are equal up to quantization).
            var calibratedInput = model.Graph.Nodes.Where(n => n.Inputs.Count > 0 && n.Inputs[0] is not null).ToDictionary(n => n, n => n.Inputs[0]!);
            // Consecutive layers reading one input (q, k, v; gate, up) get the same XᵀX array, so the rounder prepares
            // its Hessian once (GptqFactorReuse); only the latest is held.
            Value? lastInput = null;
            (double[], long) last = default;
            secondMoment = layer =>
            {
                var input = calibratedInput.GetValueOrDefault(layer.Node) ?? layer.Node.Inputs[0]!;
                if (input == lastInput) return last;
                (lastInput, last) = (null, default);
                var (matrix, _, rows) = calibration.SecondMoment(input);
                (lastInput, last) = (input, (matrix, rows));
                return last;
            };
        }
        secondMoment = RankDeficientHessianWarning.Wrap(secondMoment, Name, context.Log);
        // Both sources above make a new XᵀX array per input (ToMatrix) that only the rounder reads: it may become H in place.
        if (options.Rounding == WeightRounding.Gptq) return new GptqRounder(secondMoment, settings, ownsSecondMoments: true);
        if (options.Format != WeightOnlyFormat.Dq)
            throw new OnnxQuantException($"{Name}: rounding: gptqt exports binary-coded weights as a standard-ONNX float decomposition; set format: dq.");
        var binary = new GptqtSettings(options.Bits, options.GptqtLinearBits, settings, GptqtSettings.DefaultScaleFactors);
        binary.Validate(Name);
        return new GptqtRounder(secondMoment, binary, ownsSecondMoments: true);
    }

    /// <summary>An embedding: a Gather on a constant 2-D table.</summary>
    private static bool IsEmbedding(Node node) =>
        node.IsDefaultDomain && node.OpType == "Gather" && node.Inputs.Count > 0 && node.Inputs[0] is { IsConstant: true, Const.Rank: 2 };

    /// <summary>The MatMul/Gemm whose output becomes the logits (the output named like "logits", else the first), or null.</summary>
    public static Node? FindHead(Graph graph, IReadOnlySet<string> opTypes)
    {
        var output = graph.Outputs.FirstOrDefault(o => o.Name?.Contains("logits", StringComparison.OrdinalIgnoreCase) == true)
            ?? graph.Outputs.FirstOrDefault();
        for (var v = output; v?.Producer is { } p && p.Graph == graph; )
        {
            if (p.IsDefaultDomain && opTypes.Contains(p.OpType)) return p;
            if (!p.IsDefaultDomain || !PassThrough.Contains(p.OpType)) return null;
            // Through Add, follow the non-constant operand (a bias add).
            v = p.Inputs.FirstOrDefault(i => i is { IsConstant: false });
        }
        return null;
    }
}
