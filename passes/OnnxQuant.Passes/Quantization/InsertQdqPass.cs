using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Quantization.Rounding;

namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// Static W8A8 quantization in QDQ form, laid out the way ONNX Runtime's CPU provider fuses it into integer kernels
/// (ALGORITHMS.md §6): <c>DQ(x) → Conv(DQ(w), DQ(b)) → Q</c> becomes QLinearConv, <c>DQ → MatMul → Q</c>
/// QLinearMatMul (MatMulIntegerToFloat without the Q), <c>DQ → Gemm</c> QGemm (ConvTranspose only on request, see
/// <see cref="DefaultOpTypes"/>). Identity relied on: y = op(DQ(Q(x)), DQ(q_w)) is the
/// float op on fake-quantized inputs, which ORT computes exactly in integers as
/// s_x·s_w·Σ(q_x − z_x)·q_w + s_x·s_w·q_b.
/// <list type="bullet">
/// <item>Activations: one Q/DQ pair per tensor (uint8 asymmetric by default), parameters from the calibrated range in
/// the <see cref="IActivationRanges"/> analysis; every reader of the tensor then reads the DQ output.</item>
/// <item>Weights: int8 symmetric constants (per output channel or per tensor) with a DequantizeLinear, never float
/// weights with Q→DQ on them (ORT would keep the float weight and quantize it at every run). MatMul/Gemm/Conv weights
/// are read through <see cref="LinearLayers.LinearLayer"/> (ConvTranspose along its output axis) and rounded by the
/// recipe's <c>rounding</c> (<see cref="Rounding.IWeightRounder"/>).</item>
/// <item>Conv/ConvTranspose/Gemm bias: int32 with scale s_x·s_w[c] and zero point 0, what QLinearConv and QGemm take;
/// where the bias would not fit int32 the channel's weight scale is widened (<see cref="BiasQuantization"/>), with a warning.</item>
/// <item>Conv outputs always get Q/DQ (QLinearConv needs the Q); a Conv read only by a Relu is quantized after the
/// Relu instead, with the Relu's range (zero point = qmin), which ORT folds into the Conv. Outputs of MatMul/Gemm get
/// Q/DQ when a quantized op reads them. Q/DQ is also put before MaxPool/Reshape/Transpose/Squeeze/Unsqueeze/Gather/
/// Resize that feed a quantized op, with the same parameters on both sides, so ORT drops the pair and integer tensors
/// flow through.</item>
/// <item>Weightless ops, when listed in <see cref="InsertQdqOptions.OpTypes"/> (<see cref="QdqActivationOpInserter"/>):
/// Add, Mul, Concat, AveragePool, GlobalAveragePool, Sigmoid, LeakyRelu, Softmax get DQ on their data inputs and Q on
/// their output, each with its own range, which ORT runs as QLinearAdd/QLinearMul/QLinearConcat/QLinear*Pool/
/// QLinearSigmoid/QLinearLeakyRelu/QLinearSoftmax.</item>
/// </list>
/// Preconditions: activation ranges (an <see cref="IActivationRanges"/> analysis, or the <see cref="CalibrationResult"/>
/// of a <c>calibrate</c> step before this one, with no pass in between that invalidates statistics: see
/// <see cref="Statistics"/>; what it calibrates is what <see cref="RequestStatistics"/> asks for); opset ≥ 13 (per-axis
/// DequantizeLinear), ≥ 19 for float16 models (float16 scales); a float model (one that already holds QDQ or integer
/// ops is refused). Does not fire on: nodes inside If/Loop/Scan bodies (counted
/// as <c>skipped-subgraph</c>), excluded op types or node names, nodes whose activation has no calibrated range,
/// neither itself nor up its chain of pass-through ops (<c>no-range</c>), non-constant weights of Conv, Gemm with transA = 1, and element types other than float and float16.
/// A constant weight or bias holding NaN/±∞ is refused, or with <c>non-finite: float</c> left float (<see cref="NonFiniteWeights"/>).
/// <para>Float16 models get float16 scales and run, but ONNX Runtime 1.31's CPU provider fuses none of their QDQ
/// patterns (its selectors take float32 DequantizeLinear outputs only): the model is smaller, not faster; such nodes
/// are counted as <c>float16-unfused</c>. With <c>weights: float</c> (<see cref="QdqWeights.Float"/>) the nodes get
/// the same activation Q/DQ but keep their float weights and biases (counted as <c>float-weights</c>): the accuracy of
/// activation quantization alone, with nothing fused. Overrides (<see cref="QdqOverride"/>) change the activation type (int16 and
/// uint16 need opset 21 and are not faster on CPU either: ORT has no 16-bit integer kernels), symmetry, weight
/// granularity and range method per tensor or node, or exclude them.</para>
/// </summary>
public sealed class InsertQdqPass : Pass<InsertQdqOptions>
{
    /// <summary>The first opset with per-axis QuantizeLinear/DequantizeLinear.</summary>
    public const long RequiredOpset = 13;

    /// <summary>The first opset whose QuantizeLinear/DequantizeLinear take float16 scales.</summary>
    public const long RequiredOpsetFloat16 = 19;

    /// <summary>
    /// The op types quantized when <see cref="InsertQdqOptions.OpTypes"/> is empty. Not ConvTranspose: ONNX Runtime
    /// 1.31's CPU provider has no QDQ ConvTranspose fusion, so a quantized one runs in float after dequantizing its
    /// inputs at every run (slower than float); it is quantized only when listed explicitly. Nor the weightless ops
    /// (Add, Mul, Concat, pooling, Sigmoid, LeakyRelu, Softmax): measured with all of them listed (ORT 1.31, 2 threads,
    /// this machine), vit_mnist kept its top-1 (98.30% vs 98.16%) but its logits SQNR fell from 39.6 to 32.9 dB, and
    /// both vit_mnist and ppocr_v4_rec ran 1.06–1.13× slower than with MatMul/Gemm/Conv only (the integer kernels sit
    /// between float ops such as LayerNorm, so tensors go back and forth: vit_mnist's unfused DequantizeLinear went
    /// from 12 to 27); on taef2 the residual Adds already become QLinearAdd
    /// without being listed, as their inputs and outputs are Conv tensors.
    /// </summary>
    public static IReadOnlyList<string> DefaultOpTypes { get; } = ["MatMul", "Gemm", "Conv"];

    /// <summary>The op types whose ranges this pass requests whatever its <c>op-types</c> say (so that statistics saved
    /// with <c>--save-calib</c> serve any <c>op-types</c>). The weightless ops (<see cref="QdqActivationOpInserter"/>)
    /// are requested only when listed; a statistics file for them comes from a recipe that lists them, or from
    /// <c>tensors: all</c>.
    /// </summary>
    public static IReadOnlyList<string> SupportedOpTypes { get; } = ["MatMul", "Gemm", "Conv", "ConvTranspose"];

    /// <summary>
    /// Names of the activations of <paramref name="model"/>'s main graph whose ranges this pass reads when it
    /// quantizes <paramref name="opTypes"/> (default: <see cref="SupportedOpTypes"/>, so whatever a recipe's
    /// <c>op-types</c> say, no range is missing), in graph order: what the <c>calibrate</c> pass observes by default
    /// (<see cref="CalibrationScope.Quantizer"/>). Calibrating only these gives the same Q/DQ as calibrating all.
    /// </summary>
    public static IReadOnlyList<string> CalibrationTargets(Model model, IEnumerable<string>? opTypes = null)
    {
        var ops = new HashSet<string>(opTypes ?? SupportedOpTypes, StringComparer.Ordinal);
        return QdqInserter.ActivationsToCalibrate(model.Graph, ops).Where(v => v.Name is not null).Select(v => v.Name!).ToList();
    }


    private static readonly HashSet<string> IntegerOps = new(StringComparer.Ordinal)
    {
        "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "MatMulNBits",
        "MatMulIntegerToFloat", "QGemm", "QAttention", "DynamicQuantizeMatMul", "MatMulBnb4", "GatherBlockQuantized",
    };

    public override string Name => "insert-qdq";
    public override string Summary => "Insert QuantizeLinear/DequantizeLinear (static W8A8) where ONNX Runtime fuses them into integer kernels.";
    public override IReadOnlyList<string> Provides => ["qdq"];

    /// <summary>
    /// Reads ranges; a change keeps the statistics of the tensors it quantizes valid (they still hold the float values,
    /// now followed by Q/DQ: what bias correction reads after this pass) and invalidates the rest.
    /// </summary>
    public override StatisticsUse Statistics { get; } = new() { Reads = StatisticKinds.Range, Preserves = StatisticsPreservation.Declared };

    /// <summary>With <c>rounding: gptq</c> the pass also reads the XᵀX of every MatMul/Gemm input.</summary>
    public override StatisticsUse StatisticsFor(InsertQdqOptions options) => ReadsSecondMoments(options)
        ? new StatisticsUse { Reads = StatisticKinds.Range | StatisticKinds.SecondMoment, Preserves = StatisticsPreservation.Declared }
        : Statistics;

    /// <summary>The ranges <see cref="Run"/> reads: <see cref="QdqInserter.ActivationsToCalibrate"/> of
    /// <see cref="SupportedOpTypes"/> and the listed op types.</summary>
    public override void RequestStatistics(Model model, InsertQdqOptions options, Calibration.StatisticsRequests requests)
    {
        var ops = new HashSet<string>(SupportedOpTypes.Concat(options.OpTypes), StringComparer.Ordinal);
        foreach (var value in QdqInserter.ActivationsToCalibrate(model.Graph, ops))
            requests.Range(value);
        if (!ReadsSecondMoments(options)) return;
        var selected = OpTypesOf(options);
        foreach (var node in model.Graph.Nodes)
            if (GptqApplies(node, selected) && node.Inputs[0] is { IsConstant: false } x) requests.SecondMoment(x);
    }

    /// <summary>GPTQ and the weight clip search read the XᵀX of MatMul/Gemm inputs (when weights are quantized).</summary>
    private static bool ReadsSecondMoments(InsertQdqOptions options) =>
        options.Weights == QdqWeights.Quantized && (options.Rounding == WeightRounding.Gptq || options.WeightClipSearch);

    /// <summary>GPTQ rounds the constant 2-D weights of MatMul/Gemm (the layer input's last axis is K); Conv's
    /// im2col input is not calibrated, so Conv weights round to nearest.</summary>
    private static bool GptqApplies(Node node, IReadOnlySet<string> ops) =>
        node.IsDefaultDomain && node.OpType is "MatMul" or "Gemm" && ops.Contains(node.OpType) && node.Inputs.Count > 1
        && node.Inputs[1] is { Const.Rank: 2 } && LinearLayer.TryRead(node, out _) is null;

    /// <summary>The weight rounder of <paramref name="options"/>: round to nearest, or GPTQ for MatMul/Gemm with RTN for the rest.</summary>
    private IWeightRounder RounderFor(InsertQdqOptions options, PassContext context)
    {
        if (options.Rounding != WeightRounding.Gptq) return WeightRounders.For(options.Rounding);
        return GptqMatMulRounder.Create(Name, new GptqSettings(options.GptqDamp, 128, ActOrder: false), layer => FloatInput(layer.Node.Inputs[0]!), context);
    }

    /// <summary>The layer → XᵀX of its float input for the weight clip search (null where GPTQ would not apply: Conv).</summary>
    private Func<LinearLayer, double[]?> ClipSearchHessian(InsertQdqOptions options, PassContext context)
    {
        var calibration = context.GetAnalysis<CalibrationResult>()
            ?? throw new OnnxQuantException($"{Name}: weight-clip-search reads each layer's calibrated XᵀX; run a calibrate step (with --data) before '{Name}'.");
        var selected = OpTypesOf(options);
        return layer => GptqApplies(layer.Node, selected) ? calibration.SecondMoment(FloatInput(layer.Node.Inputs[0]!)).Matrix : null;
    }

    /// <summary>The tensor a quantized input was: the weight is rounded after its input got Q/DQ (and the Clip of an
    /// emulated width), but XᵀX is the float input's.</summary>
    private static Value FloatInput(Value v)
    {
        while (v.Producer is { OpType: "DequantizeLinear" or "QuantizeLinear" or "Clip", IsDefaultDomain: true } p && p.Inputs[0] is { } source) v = source;
        return v;
    }

    /// <summary>The op types <paramref name="options"/> select: <c>op-types</c> (default <see cref="DefaultOpTypes"/>) minus <c>exclude-op-types</c>.</summary>
    public static HashSet<string> OpTypesOf(InsertQdqOptions options)
    {
        var ops = new HashSet<string>(options.OpTypes.Count > 0 ? options.OpTypes : DefaultOpTypes, StringComparer.Ordinal);
        ops.ExceptWith(options.ExcludeOpTypes);
        return ops;
    }

    /// <summary>True for the op types of an already quantized model (QDQ, QLinear*, integer MatMul/Conv, MatMulNBits...).</summary>
    public static bool IsQuantizedOp(Node node) => IntegerOps.Contains(node.OpType) || node.OpType.StartsWith("QLinear", StringComparison.Ordinal);

    public override PassResult Run(Model model, InsertQdqOptions options, PassContext context)
    {
        long opset = FloatModelPrecondition.Check(model, Name, RequiredOpset, "per-channel QuantizeLinear/DequantizeLinear need", options.AfterDynamic);
        // Ranges given directly win; else those of an earlier calibrate pass.
        var ranges = context.GetAnalysis<IActivationRanges>()
            ?? context.GetAnalysis<CalibrationResult>()
            ?? throw new OnnxQuantException($"{Name}: no activation ranges: run the calibrate pass (with --data) before '{Name}'.");

        var ops = OpTypesOf(options);
        var excluded = options.ExcludeNodes.Select(NameGlob.Compile).ToList();

        if (options.WeightBits is < 2 or > 8)
            throw new OnnxQuantException($"{Name}: weight-bits is {options.WeightBits}; QDQ weights take 2..8 bits (stored as int8).");
        var resolver = new QdqParameterResolver(options, ranges, context.GetAnalysis<CalibrationResult>(), opset, Name);
        bool floatWeights = options.Weights == QdqWeights.Float;
        if (floatWeights && options.Rounding != WeightRounding.Rtn)
            throw new OnnxQuantException($"{Name}: weights: float leaves weights unrounded, but rounding is {EnumSpelling.Of(options.Rounding)}; drop 'rounding' or use weights: quantized.");
        var inserter = new QdqInserter(model.Graph, ranges, resolver, context, opset, Name,
            floatWeights ? new RoundToNearest() : RounderFor(options, context),
            context.GetAnalysis<PinnedActivations>(), options.WeightBits)
        {
            Float8Scale = options.Float8Scale,
            FloatWeights = floatWeights,
            ClipSearchHessian = options.WeightClipSearch ? ClipSearchHessian(options, context) : null,
        };
        var activationOps = new QdqActivationOpInserter(inserter, context, opset, Name);
        int quantizedNodes = 0;
        foreach (var node in QuantizationCandidates.Of(model, ops, excluded, context, Name))
        {
            if (resolver.Exclusion(node) is { } why)
            {
                context.Count("excluded");
                context.Log($"{Name}: {node} stays float: {why}.");
                continue;
            }
            if (!NonFiniteWeights.Allows(node, options.NonFinite, context, Name)) continue;
            if (QdqActivationOpInserter.Handles(node.OpType) ? activationOps.TryQuantize(node) : inserter.TryQuantize(node)) quantizedNodes++;
            // Streaming a model larger than memory: each weight leaves a few weight-sized arrays on the large-object
            // heap, which the GC otherwise lets pile up (as in quantize-weights); a blocking collection costs milliseconds.
            if (model.Streams && node.Inputs.Count > 1 && node.Inputs[1] is { IsConstant: true })
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        }
        if (quantizedNodes > 0) context.Count("quantized", quantizedNodes);
        // Every QuantizeLinear is ours (a quantized model is refused above): its input is a float tensor we quantized.
        context.PreserveStatistics(model.Graph.Nodes.Where(n => n.OpType == "QuantizeLinear" && n.IsDefaultDomain).Select(n => n.Inputs[0]!));
        return PassResult.From(quantizedNodes > 0);
    }

}
