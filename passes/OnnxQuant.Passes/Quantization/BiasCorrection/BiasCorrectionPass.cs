using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Quantization.BiasCorrection;

/// <summary>
/// Empirical bias correction (Nagel et al. 2019, "Data-Free Quantization Through Weight Equalization and Bias
/// Correction", §4.2; ALGORITHMS.md §9). Identity: for y = x·W + b quantized to x·Ŵ + b, E[y_q] − E[y] = E[x]·(Ŵ − W),
/// so b' = b + E[x]·(W − Ŵ) makes the quantized layer's output mean per channel equal the float layer's (with the
/// float input). For a Conv, E[x] per input channel times the kernel's spatial sum of W − Ŵ (padding ignored).
/// <para>
/// It runs after <c>insert-qdq</c>: Ŵ is read from each weight's DequantizeLinear, W is what insert-qdq quantized
/// (insert-qdq keeps it, <see cref="QuantizedFloatWeights"/>, when this pass follows it), and E[x] is the calibrated
/// per-channel mean of the layer's float input (requested by value from the calibrate step; insert-qdq preserves the
/// statistics of the tensors it quantizes). The corrected bias replaces the int32 bias (requantized at its scale
/// s_x·s_w), or a float bias; a Conv or Gemm without a bias gets one (<c>add-bias</c>).
/// </para>
/// <para>
/// Preconditions: a calibrate step before insert-qdq, in the same pipeline as this pass. Does not fire on a node (each
/// reason counted in the pass's misses, pattern <c>bias</c>) whose weight is not a DequantizeLinear made by insert-qdq
/// in this run, whose input has no calibrated per-channel mean, whose bias is neither a constant nor a DequantizeLinear
/// of constants read by it alone, or a MatMul without a bias (an Add after it would not be free; a MatMul whose output
/// only an Add of a per-channel float constant reads has its correction added to that constant), a Conv/Gemm without
/// one when <c>add-bias</c> is off, or a Gemm with transA.
/// </para>
/// </summary>
public sealed class BiasCorrectionPass : Pass<BiasCorrectionOptions>
{
    public override string Name => "bias-correction";

    public override string Summary => "Empirical bias correction after insert-qdq: b += E[x]·(W − Ŵ) per output channel from calibrated input means (Conv/MatMul/Gemm).";

    public override StatisticsUse Statistics { get; } = new() { Reads = StatisticKinds.ChannelMean };

    private const string Pattern = "bias";

    /// <summary>The per-channel mean of every Conv/MatMul/Gemm input whose weight is a float constant (before insert-qdq).</summary>
    public override void RequestStatistics(Model model, BiasCorrectionOptions options, StatisticsRequests requests)
    {
        var axes = new Dictionary<Value, int>();
        foreach (var node in model.Graph.Nodes)
        {
            if (!node.IsDefaultDomain || node.OpType is not ("Conv" or "MatMul" or "Gemm") || LinearLayer.TryRead(node, out _) is not null) continue;
            if (node.Inputs[0] is not { IsConstant: false } x) continue;
            int axis = node.OpType == "Conv" ? 1 : -1;
            // One tensor keeps one channel axis: a tensor read both as a Conv input and a MatMul input keeps the first.
            if (axes.TryAdd(x, axis)) requests.ChannelMeans(x, axis);
        }
    }

    public override PassResult Run(Model model, BiasCorrectionOptions options, PassContext context)
    {
        var calibration = context.GetAnalysis<CalibrationResult>()
            ?? throw new OnnxQuantException($"{Name}: it reads the calibrated mean of each layer's input; put a calibrate step (with --data) before insert-qdq and '{Name}'.");
        var floatWeights = context.GetAnalysis<QuantizedFloatWeights>();
        var rewriter = new Rewriter(model.Graph);
        int corrected = 0;
        foreach (var node in model.Graph.Nodes.ToList())
        {
            if (!node.IsDefaultDomain || node.OpType is not ("Conv" or "MatMul" or "Gemm") || node.Inputs.Count < 2) continue;
            if (Correct(node, options, calibration, floatWeights, rewriter, context) is { } why) context.RecordMiss(Pattern, why);
            else corrected++;
        }
        context.Count("corrected", corrected);
        return PassResult.From(corrected > 0);
    }

    /// <summary>Null when the node's bias was corrected, else why not.</summary>
    private string? Correct(Node node, BiasCorrectionOptions options, CalibrationResult calibration, QuantizedFloatWeights? floatWeights,
        Rewriter rewriter, PassContext context)
    {
        if (node.Inputs[1] is not { Producer: { OpType: "DequantizeLinear" } weightDq } wHat || floatWeights is null || !floatWeights.TryGet(wHat, out var w))
            return "its weight is not a DequantizeLinear made by insert-qdq in this run (bias-correction follows insert-qdq)";
        if (node.OpType == "Gemm" && node.GetInt("transA", 0) != 0) return "it is a Gemm with transA = 1";
        var x = FloatInput(node.Inputs[0]!);
        if (!calibration.IsValid(x) || !calibration.TryGetStatistics(x, out var s) || s.Channels is null) return "its input has no valid calibrated per-channel mean";
        var mean = calibration.ChannelMean(x);
        var quantized = Dequantize(weightDq);
        if (quantized is null) return "its weight DequantizeLinear does not have constant inputs with one scale per tensor or per axis";
        var exact = w.ToFloatArray();
        var delta = Correction(node, w.Dims.ToArray(), exact, quantized, mean);
        if (delta is null) return "the input's channel count does not match the weight";

        var bias = node.Input(2);
        float beta = node.OpType == "Gemm" ? node.GetFloat("beta", 1f) : 1f;
        if (beta == 0) return "it is a Gemm with beta = 0 (its bias is ignored)";
        if (bias is null)
        {
            if (node.OpType == "MatMul")
                return AddToFollowingBias(node, delta, rewriter) ? null
                    : "a MatMul without a bias and without an Add of a per-channel constant after it (adding one would not be free)";
            if (!options.AddBias) return "it has no bias and add-bias is off";
            var floatType = w.ElementType;
            for (int c = 0; c < delta.Length; c++) delta[c] /= beta;
            float[] weightScales = weightDq.Inputs[1]!.Const!.ToFloatArray();
            Value added;
            if (InputScale(node.Inputs[0]!) is { } inputScale)
            {
                var (codes, scales, saturated) = BiasQuantization.Quantize(delta, inputScale, weightScales, floatType);
                if (saturated > 0) context.Count("saturated", saturated);
                added = Int32Bias(rewriter, node, codes, scales, floatType);
            }
            else added = rewriter.AddConstant(TensorConversions.FromFloats(floatType, delta, [delta.Length]), rewriter.FreshName((node.Name ?? "node") + "_bias"));
            rewriter.SetInput(node, 2, added);
            context.Count("bias-added");
            return null;
        }
        if (bias.Const is { } floatBias)
        {
            if (floatBias.ElementCount != delta.Length) return "its bias is not one value per output channel";
            var values = floatBias.ToFloatArray();
            for (int c = 0; c < values.Length; c++) values[c] += delta[c] / beta;
            rewriter.ReplaceInput(node, 2, rewriter.AddConstant(TensorConversions.FromFloats(floatBias.ElementType, values, floatBias.Dims.ToArray()), bias.Name));
            return null;
        }
        if (bias.Producer is not { OpType: "DequantizeLinear" } biasDq || bias.Uses.Count != 1 || bias.IsAnyGraphOutput
            || biasDq.Inputs[0]?.Const is not { ElementType: DataType.Int32 } codesTensor || biasDq.Inputs[1]?.Const is not { } scaleTensor
            || codesTensor.ElementCount != delta.Length)
            return "its bias is neither a constant nor an int32 DequantizeLinear of constants read by it alone";
        var codes32 = Array.ConvertAll(codesTensor.ToDoubleArray(), d => (int)d);
        var biasScales = scaleTensor.ToFloatArray();
        var zeros = biasDq.Input(2)?.Const is { } z ? Array.ConvertAll(z.ToDoubleArray(), d => (int)d) : null;
        int saturatedCodes = 0;
        for (int c = 0; c < codes32.Length; c++)
        {
            float scale = biasScales[biasScales.Length == 1 ? 0 : c];
            int zero = zeros is null ? 0 : zeros[zeros.Length == 1 ? 0 : c];
            double value = (codes32[c] - zero) * (double)scale + delta[c] / beta;
            double q = Math.Round(value / scale, MidpointRounding.ToEven) + zero;
            if (Math.Abs(q) > int.MaxValue) saturatedCodes++;
            codes32[c] = (int)Math.Clamp(q, -int.MaxValue, int.MaxValue);
        }
        if (saturatedCodes > 0) context.Count("saturated", saturatedCodes);
        rewriter.ReplaceInput(biasDq, 0, rewriter.AddConstant(Tensor.FromInt32s(codes32, codesTensor.Dims.ToArray()), biasDq.Inputs[0]!.Name));
        return null;
    }

    /// <summary>
    /// A MatMul exported with its bias as a separate Add (x·W then + b, as 3-D Linear layers export): when the MatMul's
    /// output is read by that Add alone and b is a float constant of one value per output channel (shape [N] or
    /// [1, …, 1, N]), the correction goes into b, which costs nothing at run time. b is replaced by a new constant, so a
    /// shared one is never changed in place. False (nothing changed) otherwise.
    /// </summary>
    private static bool AddToFollowingBias(Node matMul, float[] delta, Rewriter rewriter)
    {
        if (matMul.Outputs[0] is not { } y || y.IsAnyGraphOutput || y.Uses.Count != 1) return false;
        var use = y.Uses[0];
        var add = use.Node;
        if (!add.IsDefaultDomain || add.OpType != "Add" || add.Inputs.Count != 2) return false;
        int index = 1 - use.InputIndex;
        if (add.Inputs[index] is not { Const: { } b } bias || b.ElementCount != delta.Length || b.Rank == 0 || b.Dims[^1] != delta.Length
            || b.ElementType is not (DataType.Float or DataType.Float16 or DataType.BFloat16 or DataType.Double))
            return false;
        var values = b.ToFloatArray();
        for (int c = 0; c < values.Length; c++) values[c] += delta[c];
        rewriter.ReplaceInput(add, index, rewriter.AddConstant(TensorConversions.FromFloats(b.ElementType, values, b.Dims.ToArray()), bias.Name));
        rewriter.RemoveConstantIfUnused(bias);
        return true;
    }

    /// <summary>The float tensor a quantized input was made from (x of DQ(Q(x))), else the input itself.</summary>
    private static Value FloatInput(Value input) =>
        input.Producer is { OpType: "DequantizeLinear" } dq && dq.Inputs[0]?.Producer is { OpType: "QuantizeLinear" } q ? q.Inputs[0]! : input;

    /// <summary>The per-tensor scale of a DQ(Q(x)) input, or null.</summary>
    private static float? InputScale(Value input) =>
        input.Producer is { OpType: "DequantizeLinear" } dq && dq.Inputs[1]?.Const is { ElementCount: 1 } scale ? scale.ToFloatArray()[0] : null;

    /// <summary>
    /// Δ per output channel: Σ over the reduction of (W − Ŵ)·E[x] for MatMul [K, N], Gemm (transB: [N, K]; × alpha)
    /// and Conv [M, C/g, k…] (E[x] of input channel g·C/g + c for every kernel position); null when the mean's length
    /// does not fit.
    /// </summary>
    internal static float[]? Correction(Node node, long[] dims, float[] w, float[] wHat, double[] mean)
    {
        switch (node.OpType)
        {
            case "Conv":
            {
                long group = node.GetInt("group", 1);
                int m = (int)dims[0], cPerGroup = (int)dims[1];
                int spatial = (int)(w.Length / ((long)m * cPerGroup));
                if (mean.Length != cPerGroup * group) return null;
                var delta = new float[m];
                for (int o = 0; o < m; o++)
                {
                    long g = o / (m / group);
                    double sum = 0;
                    for (int c = 0; c < cPerGroup; c++)
                    {
                        double e = 0;
                        for (int p = 0; p < spatial; p++)
                        {
                            long i = ((long)o * cPerGroup + c) * spatial + p;
                            e += (double)w[i] - wHat[i];
                        }
                        sum += e * mean[g * cPerGroup + c];
                    }
                    delta[o] = (float)sum;
                }
                return delta;
            }
            default:
            {
                bool transB = node.OpType == "Gemm" && node.GetInt("transB", 0) != 0;
                double alpha = node.OpType == "Gemm" ? node.GetFloat("alpha", 1f) : 1;
                if (dims.Length != 2) return null;
                int k = (int)dims[transB ? 1 : 0], n = (int)dims[transB ? 0 : 1];
                if (mean.Length != k) return null;
                var delta = new float[n];
                for (int o = 0; o < n; o++)
                {
                    double sum = 0;
                    for (int j = 0; j < k; j++)
                    {
                        long i = transB ? (long)o * k + j : (long)j * n + o;
                        sum += ((double)w[i] - wHat[i]) * mean[j];
                    }
                    delta[o] = (float)(alpha * sum);
                }
                return delta;
            }
        }
    }

    /// <summary>The weight a DequantizeLinear of constants computes, (q − z)·s per tensor or along its axis, as ORT does in float; null otherwise.</summary>
    internal static float[]? Dequantize(Node dq)
    {
        if (dq.Inputs[0]?.Const is not { } q || dq.Inputs[1]?.Const is not { } scale) return null;
        if (dq.GetInt("block_size", 0) != 0) return null;
        var zero = dq.Input(2)?.Const;
        var codes = q.ToDoubleArray();
        var scales = scale.ToFloatArray();
        var zeros = zero?.ToDoubleArray();
        long stride = 1, channels = 1;
        if (scales.Length > 1)
        {
            int axis = (int)dq.GetInt("axis", 1);
            if (axis < 0) axis += q.Rank;
            if (axis < 0 || axis >= q.Rank || q.Dims[axis] != scales.Length) return null;
            channels = q.Dims[axis];
            for (int d = axis + 1; d < q.Rank; d++) stride *= q.Dims[d];
        }
        var result = new float[codes.Length];
        for (long i = 0; i < codes.Length; i++)
        {
            int c = (int)(i / stride % channels);
            result[i] = (float)(codes[i] - (zeros?[zeros.Length == 1 ? 0 : c] ?? 0)) * scales[c];
        }
        return result;
    }

    private static Value Int32Bias(Rewriter rewriter, Node node, int[] codes, float[] scales, DataType floatType)
    {
        string hint = (node.Name ?? node.OpType) + "_bias";
        bool perChannel = scales.Length > 1;
        long[] scaleDims = perChannel ? [scales.Length] : [];
        var qb = rewriter.AddConstant(Tensor.FromInt32s(codes, codes.Length), rewriter.FreshName(hint + "_quantized"));
        var scale = rewriter.AddConstant(TensorConversions.FromFloats(floatType, scales, scaleDims), rewriter.FreshName(hint + "_scale"));
        var zero = rewriter.AddConstant(Tensor.FromSpan(DataType.Int32, new int[scales.Length], scaleDims), rewriter.FreshName(hint + "_zero_point"));
        var dq = new Node("DequantizeLinear", [qb, scale, zero], 1, "", perChannel ? [Attribute.Int("axis", 0)] : null,
            rewriter.FreshName(hint + "_DequantizeLinear"), [rewriter.FreshName(hint + "_dequantized")]);
        dq.Output.Type = new TensorType(floatType, new Shape(codes.Length));
        rewriter.InsertAtFront(dq);
        return dq.Output;
    }
}
