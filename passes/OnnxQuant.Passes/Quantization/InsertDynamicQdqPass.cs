using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Quantization.Rounding;

namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// Dynamic W8A8: int8 weights stored in the model, activation ranges measured at run time, in the exact form ONNX
/// Runtime's CPU provider fuses (its own dynamic quantizer emits the same):
/// <code>
/// x → DynamicQuantizeLinear → (x_q, s_x, z_x)
/// y = Mul(Cast&lt;float&gt;(MatMulInteger(x_q, W_q, z_x, 0)), Mul(s_x, s_w)) [+ bias]
/// </code>
/// ORT's MatMulIntegerToFloatFusion turns MatMulInteger → Cast → Mul (+ a constant [N] bias Add) into
/// com.microsoft MatMulIntegerToFloat, and DynamicQuantizeMatMulFusion folds the DynamicQuantizeLinear in as
/// DynamicQuantizeMatMul. Identity relied on: with DynamicQuantizeLinear's s_x = (max(x,0) − min(x,0))/255 and
/// z_x = round(−min(x,0)/s_x), x ≈ s_x·(x_q − z_x) and W ≈ s_w·W_q, so x·W ≈ s_x·s_w[n]·Σ_k (x_q − z_x)·W_q[k,n].
/// <list type="bullet">
/// <item>Weights: int8 symmetric (zero point 0, [−127, 127]) per output column (a [N] scale, which
/// MatMulIntegerToFloat takes) or per tensor. Gemm weights with transB are stored transposed, as [K, N].</item>
/// <item>Activations: uint8 per tensor, one DynamicQuantizeLinear per tensor however many MatMuls read it.</item>
/// </list>
/// No calibration data is needed. Conv stays float: ORT has no fusion for ConvInteger, which ran 1.2–1.3× slower than
/// float on a U-Net on this machine (ALGORITHMS.md §6), and its CPU kernel takes uint8 weights only (no symmetric
/// int8 per-channel weights), so it would cost accuracy as well. Preconditions: opset ≥ 11 (DynamicQuantizeLinear); a float
/// model (one that already holds QDQ or integer ops is refused). Does not fire on (counted): nodes inside If/Loop/Scan
/// bodies (<c>skipped-subgraph</c>), float16 nodes (<c>skipped-float16</c>: DynamicQuantizeLinear takes float32 only),
/// non-constant or rank ≠ 2 weights, with <c>exclude-conditioning-path</c>/<c>exclude-output-layers</c> the layers
/// <see cref="Diffusion.DenoiserStructure"/> finds (<c>conditioning-path</c>, <c>output-layer</c>), Gemm with transA or alpha ≠ 1 or a non-constant C (<c>skipped</c>). A constant
/// weight or C holding NaN/±∞ is refused, or with <c>non-finite: float</c> left float (<see cref="NonFiniteWeights"/>).
/// <c>weight-bits: 4</c> (opset ≥ 21) rounds weights to int4 [−7, 7] per column, stored as int4 and cast to int8
/// (<see cref="DynamicQdqRewriter"/>); <c>rounding: gptq</c> (GPTQ, Frantar et al. 2022) rounds MatMul/Gemm weights
/// with error feedback through each layer input's XᵀX from a calibrate step before (W4A8 on int8 kernels:
/// <c>w4a8-diffusion</c>).
/// </summary>
public sealed class InsertDynamicQdqPass : Pass<InsertDynamicQdqOptions>
{
    /// <summary>DynamicQuantizeLinear appeared in opset 11.</summary>
    public const long RequiredOpset = 11;

    public static IReadOnlyList<string> DefaultOpTypes { get; } = ["MatMul", "Gemm"];

    public override string Name => "insert-dynamic-qdq";
    public override string Summary => "Dynamic W8A8: int8 weights, runtime activation ranges (DynamicQuantizeLinear + MatMulInteger, fused by ORT).";
    public override IReadOnlyList<string> Provides => ["qdq"];

    /// <summary>int4 weights are an opset-21 type.</summary>
    public const long Int4Opset = 21;

    /// <summary>With <c>rounding: gptq</c> the pass reads the XᵀX of every MatMul/Gemm input (a change invalidates every statistic).</summary>
    public override StatisticsUse StatisticsFor(InsertDynamicQdqOptions options) =>
        options.Rounding == WeightRounding.Gptq ? new StatisticsUse { Reads = StatisticKinds.SecondMoment } : Statistics;

    /// <summary>With <c>rounding: gptq</c>: the XᵀX of the input of every MatMul/Gemm the pass may quantize.</summary>
    public override void RequestStatistics(Model model, InsertDynamicQdqOptions options, Calibration.StatisticsRequests requests)
    {
        if (options.Rounding != WeightRounding.Gptq) return;
        var ops = new HashSet<string>(options.OpTypes.Count > 0 ? options.OpTypes : DefaultOpTypes, StringComparer.Ordinal);
        var excluded = options.ExcludeNodes.Select(NameGlob.Compile).ToList();
        var structural = Diffusion.StructuralExclusions.Of(model.Graph, options.ExcludeConditioningPath, options.ExcludeOutputLayers);
        foreach (var node in model.Graph.Nodes)
        {
            if (!node.IsDefaultDomain || !ops.Contains(node.OpType) || structural.ContainsKey(node) || NameGlob.AnyMatches(excluded, node)) continue;
            if (node.Inputs.Count < 2 || node.Inputs[0] is not { IsConstant: false } x || node.Inputs[1] is not { Const.Rank: 2 }) continue;
            if (LinearLayers.LinearLayer.TryRead(node, out _) is null) requests.SecondMoment(x);
        }
    }

    public override PassResult Run(Model model, InsertDynamicQdqOptions options, PassContext context)
    {
        FloatModelPrecondition.Check(model, Name, RequiredOpset, "DynamicQuantizeLinear needs");
        var unknown = options.OpTypes.Except(DefaultOpTypes).ToList();
        if (unknown.Count > 0)
            throw new OnnxQuantException(
                $"{Name}: cannot quantize {string.Join(", ", unknown)} dynamically; op-types takes MatMul and Gemm " +
                "(Conv would become ConvInteger, which ONNX Runtime does not fuse and runs slower than float).");
        var ops = new HashSet<string>(options.OpTypes.Count > 0 ? options.OpTypes : DefaultOpTypes, StringComparer.Ordinal);
        var excluded = options.ExcludeNodes.Select(NameGlob.Compile).ToList();

        if (options.WeightBits is not (8 or 4))
            throw new OnnxQuantException($"{Name}: weight-bits is {options.WeightBits}; it takes 8 or 4.");
        if (options.WeightBits == 4 && (model.GetOpset("") ?? 1) < Int4Opset)
            throw new OnnxQuantException(
                $"{Name}: weight-bits: 4 stores int4 weights, which need opset >= {Int4Opset}; the model has {model.GetOpset("") ?? 1}. " +
                $"Run 'upgrade-opset' (target-opset: {Int4Opset}) before '{Name}' in the recipe.");
        var rewriter = new DynamicQdqRewriter(model.Graph, options.WeightGranularity == QdqWeightGranularity.PerChannel, context, Name,
            RounderFor(model, options, context), weightBits: options.WeightBits);
        var structural = Diffusion.StructuralExclusions.Of(model.Graph, options.ExcludeConditioningPath, options.ExcludeOutputLayers);
        int done = 0;
        foreach (var node in QuantizationCandidates.Of(model, ops, excluded, context, Name))
        {
            if (!Diffusion.StructuralExclusions.Skip(structural, node, context, Name) && NonFiniteWeights.Allows(node, options.NonFinite, context, Name) && rewriter.TryQuantize(node)) done++;
            // Streaming (as in insert-qdq): collect each weight's large-object garbage before the next weight.
            if (model.Streams) GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        }
        if (done > 0) context.Count("quantized", done);
        return PassResult.From(done > 0);
    }

    /// <summary>Round to nearest, or GPTQ for MatMul/Gemm (RTN for anything else) through each layer input's calibrated XᵀX.</summary>
    private IWeightRounder RounderFor(Model model, InsertDynamicQdqOptions options, PassContext context)
    {
        if (options.Rounding != WeightRounding.Gptq) return WeightRounders.For(options.Rounding);
        // The inputs as calibrated, taken before any rewrite (a rewritten layer's output is a new value).
        var calibratedInput = model.Graph.Nodes.Where(n => n.Inputs.Count > 0 && n.Inputs[0] is not null).ToDictionary(n => n, n => n.Inputs[0]!);
        return GptqMatMulRounder.Create(Name, new GptqSettings(options.GptqDamp, 128, options.GptqActOrder), layer => calibratedInput[layer.Node], context);
    }

}
