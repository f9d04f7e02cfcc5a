using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.Canonicalization;
using OnnxQuant.Passes.Quantization.AutoPrecision;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Audit;
using OnnxQuant.Runtime.Benchmarking;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Runtime.Evaluation;

namespace OnnxQuant.Passes.Reporting;

/// <summary>How <see cref="QuantizationReportBuilder"/> measures.</summary>
public sealed record ReportOptions
{
    /// <summary>The evaluation (samples, shapes, images, seed); <see cref="EvalOptions.PerTensor"/> is set by the builder.</summary>
    public EvalOptions Evaluation { get; init; } = new();

    /// <summary>Worst tensors whose distributions are plotted.</summary>
    public int WorstTensors { get; init; } = 4;

    public int HistogramBins { get; init; } = 60;

    /// <summary>Latency runs (interleaved, float and quantized); 0 skips the latency measurement.</summary>
    public int BenchRuns { get; init; } = 20;

    public int Threads { get; init; } = 1;
}

/// <summary>
/// Measures a <see cref="QuantizationReport"/>. Tensors and layers are paired through what the quantizer keeps and
/// records: its passes leave every float tensor's name and every quantized layer's node name as they were and put the
/// quantized form beside them (QuantizeLinear/DequantizeLinear); a node that replaces a layer under another name
/// (MatMulNBits, MatMulInteger, a custom op) records the float node it stands for (<see cref="NodeOrigin"/>). So the
/// pairs are the float model's own tensors and nodes, not names guessed after the fact; tensors whose shape or type
/// differ are left out (counted).
/// </summary>
public static class QuantizationReportBuilder
{
    private static readonly HashSet<string> ComputeOps = ["MatMul", "Gemm", "Conv", "ConvTranspose", "Attention", "MatMulNBits", "MatMulW4A8", "MatMulInteger", "ConvInteger", "QLinearMatMul", "QLinearConv"];

    public static QuantizationReport Build(string floatPath, string quantPath, string data, ReportOptions options)
    {
        var evaluation = ModelEvaluator.Run(floatPath, quantPath, data, options.Evaluation with { PerTensor = true });
        using var floatModel = OnnxReader.Read(floatPath);
        using var quantModel = OnnxReader.Read(quantPath);

        var layers = InNetworkOrder(floatModel, evaluation.Tensors ?? []);
        var e = options.Evaluation;
        using var source = CalibrationDataSource.Open(data, floatModel,
            new DataSourceOptions { Count = 1, Skip = e.Skip, Images = e.Images, BatchSize = 1, Shapes = e.Shapes, Seed = e.Seed });
        var firstSample = source.Batches().First().Feeds;
        var worst = Histograms(floatModel, quantModel, firstSample, options, evaluation.Tensors ?? []);
        var weights = WeightErrors(floatModel, quantPath);
        var audit = FusionAudit.Run(quantModel);
        var autoPrecision = AutoPrecisionOf(quantModel);
        var stayedFloat = StayedFloat(quantModel, autoPrecision);
        var provenance = quantModel.Metadata.Where(e => e.Key.StartsWith(Recipes.Provenance.Prefix, StringComparison.Ordinal)).ToList();
        BenchReport? latency = options.BenchRuns > 0
            ? LatencyBenchmark.Run([floatPath, quantPath], new BenchOptions
            {
                Runs = options.BenchRuns,
                Warmup = 3,
                Threads = options.Threads,
                Seed = options.Evaluation.Seed,
                // Timed on the first sample of the data, as bench --data times it.
                Feeds = firstSample,
            })
            : null;
        return new QuantizationReport(floatPath, quantPath, evaluation, layers, worst, weights, audit, stayedFloat, provenance, latency, autoPrecision);
    }

    /// <summary>The auto-precision pass's record of its search, when the model has one.</summary>
    public static AutoPrecisionSummary? AutoPrecisionOf(Model model) =>
        model.Metadata.FirstOrDefault(e => e.Key == AutoPrecisionPass.MetadataKey) is { Value: { } json }
            ? System.Text.Json.JsonSerializer.Deserialize<AutoPrecisionSummary>(json, AutoPrecisionPass.JsonOptions)
            : null;

    /// <summary>The per-tensor errors of <c>eval --per-tensor</c>, in the float model's node order.</summary>
    public static List<LayerError> InNetworkOrder(Model floatModel, IReadOnlyList<ErrorSummary> tensors)
    {
        var byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var result = new List<LayerError>();
        foreach (var node in floatModel.Graph.Nodes)
            foreach (var output in node.Outputs)
                if (output?.Name is { } name && byName.TryGetValue(name, out var e))
                    result.Add(new LayerError(result.Count, name, node.Name ?? "", node.OpType, e.SqnrDb, e.Cosine, e.MaxAbsError, e.Elements, e.Identical));
        return result;
    }

    private static List<TensorHistogram> Histograms(Model floatModel, Model quantModel, IReadOnlyDictionary<string, Tensor> feeds, ReportOptions options, IReadOnlyList<ErrorSummary> tensors)
    {
        var worst = tensors.Where(t => !t.Identical && t.SqnrDb is not null).OrderBy(t => t.SqnrDb).Take(options.WorstTensors).Select(t => t.Name).ToList();
        if (worst.Count == 0) return [];
        var e = options.Evaluation;
        var runner = new RunnerOptions { Optimization = e.Optimization, IntraOpThreads = e.Threads };
        using var f = ModelRunner.FromModel(floatModel, runner, worst);
        using var q = ModelRunner.FromModel(quantModel, runner, worst);
        var fo = f.Run(feeds, worst);
        var qo = q.Run(feeds, worst);
        var result = new List<TensorHistogram>();
        foreach (string name in worst)
        {
            var a = FloatValues.Of(fo[name]).ToArray();
            var b = FloatValues.Of(qo[name]).ToArray();
            double min = Math.Min(Finite(a).DefaultIfEmpty().Min(), Finite(b).DefaultIfEmpty().Min());
            double max = Math.Max(Finite(a).DefaultIfEmpty().Max(), Finite(b).DefaultIfEmpty().Max());
            if (!(max > min)) max = min + 1;
            result.Add(new TensorHistogram(name, tensors.First(t => t.Name == name).SqnrDb, min, max,
                Count(a, min, max, options.HistogramBins), Count(b, min, max, options.HistogramBins)));
        }
        return result;
    }

    private static IEnumerable<float> Finite(float[] values) => values.Where(float.IsFinite);

    private static long[] Count(float[] values, double min, double max, int bins)
    {
        var counts = new long[bins];
        double width = (max - min) / bins;
        foreach (float v in values)
            if (float.IsFinite(v)) counts[Math.Clamp((int)((v - min) / width), 0, bins - 1)]++;
        return counts;
    }

    /// <summary>
    /// Each quantized layer's weight against the float one: the quantized model's constant DequantizeLinear weights are
    /// folded (in ONNX Runtime, as fold-constants does) and compared with the float model's weight at the same input of
    /// the node of the same name. MatMulNBits weights are decoded from their blocked layout.
    /// </summary>
    public static List<WeightError> WeightErrors(Model floatModel, string quantPath)
    {
        using var folded = OnnxReader.Read(quantPath);
        var formats = new Dictionary<(string, int), string>();
        foreach (var node in folded.Graph.Nodes.Where(n => ComputeOps.Contains(n.OpType) && n.Name is not null))
            for (int i = 0; i < node.Inputs.Count; i++)
                if (node.Inputs[i]?.Producer is { OpType: "DequantizeLinear" } dq && dq.Inputs[0] is { } x && ConstantNode.ConstantOf(x) is { } codes)
                    formats[(node.Name!, i)] = $"{codes.ElementType.OnnxName()} ({(dq.Inputs.Count > 1 && dq.Inputs[1] is { } s && ConstantNode.ConstantOf(s) is { } scale && scale.ElementCount > 1 ? "per channel or block" : "per tensor")})";
        new FoldConstantsPass().Run(folded, new FoldConstantsOptions { FoldDequantizeLinear = true, MaxOutputBytes = long.MaxValue, SmallOutputBytes = long.MaxValue }, new PassContext());

        var floatNodes = floatModel.Graph.Nodes.Where(n => n.Name is not null).GroupBy(n => n.Name!).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var result = new List<WeightError>();
        foreach (var node in folded.Graph.Nodes.Where(n => ComputeOps.Contains(n.OpType) && n.Name is not null))
        {
            // A node that replaced a float layer under another name (MatMulNBits, MatMulInteger, a custom op made from
            // them) records that layer's name (NodeOrigin); every other quantized node kept its float node's name.
            string key = NodeOrigin.SourceName(node)!;
            if (!floatNodes.TryGetValue(key, out var original)) continue;
            if (MatMulNBitsWeights.IsBlockedInt(node))
            {
                if (original.Inputs.Count > 1 && original.Inputs[1] is { } w && ConstantNode.ConstantOf(w) is { } floatWeight
                    && MatMulNBitsWeights.Decode(node) is { } decoded)
                    result.Add(Compare(node, 1, w.Name ?? "", $"int{node.GetInt("bits", 4)} g{node.GetInt("block_size", 32)} ({node.OpType})", floatWeight.ToFloatArray(), decoded));
                continue;
            }
            if (node.OpType == "MatMulInteger")
            {
                if (original.Inputs.Count > 1 && original.Inputs[1] is { } w && ConstantNode.ConstantOf(w) is { Rank: 2 } floatWeight
                    && MatMulIntegerWeights.Decode(node) is { } decoded)
                {
                    // A Gemm with transB holds B as [N, K]; the decoded weight is [K, N].
                    var reference = original.OpType == "Gemm" && original.GetInt("transB", 0) != 0 ? Transposed(floatWeight) : floatWeight.ToFloatArray();
                    if (reference.Length == decoded.Length)
                        result.Add(Compare(node, 1, w.Name ?? "", "int8 (MatMulInteger, dynamic activations)", reference, decoded));
                }
                continue;
            }
            foreach (var ((name, index), format) in formats.Where(kv => kv.Key.Item1 == node.Name))
            {
                if (index >= original.Inputs.Count || original.Inputs[index] is not { } fw || ConstantNode.ConstantOf(fw) is not { } floatTensor) continue;
                if (node.Inputs[index] is not { } qv || ConstantNode.ConstantOf(qv) is not { } quantTensor) continue;
                if (!floatTensor.Dims.SequenceEqual(quantTensor.Dims) || !FloatValues.IsComparable(floatTensor.ElementType)) continue;
                result.Add(Compare(node, index, fw.Name ?? "", format, floatTensor.ToFloatArray(), quantTensor.ToFloatArray()));
            }
        }
        return result;
    }

    private static float[] Transposed(Tensor matrix)
    {
        var a = matrix.ToFloatArray();
        long rows = matrix.Dims[0], cols = matrix.Dims[1];
        var t = new float[a.Length];
        for (long r = 0; r < rows; r++)
            for (long c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
        return t;
    }

    private static WeightError Compare(Node node, int index, string weight, string format, float[] a, float[] b)
    {
        var s = new ErrorStatistics();
        s.Add(a, b);
        var e = ErrorSummary.From(weight, s);
        return new WeightError(node.Name!, node.OpType, weight, format, e.SqnrDb, e.MaxAbsError, e.Elements);
    }

    /// <summary>Compute layers that read no quantized tensor, with the reason the quantizer recorded when it recorded one.</summary>
    public static List<FloatLayer> StayedFloat(Model quantModel, AutoPrecisionSummary? autoPrecision = null)
    {
        var reasons = quantModel.Metadata
            .Where(e => e.Key.StartsWith("onnxquant.float.", StringComparison.Ordinal))
            .ToDictionary(e => e.Key["onnxquant.float.".Length..], e => e.Value, StringComparer.Ordinal);
        foreach (var d in autoPrecision?.Decisions ?? [])
            if (d.Choice == PrecisionChoice.Float)
                reasons[d.Node] = string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"auto-precision kept it float: {autoPrecision!.Metric} {d.ScoreBefore:G4} → {d.ScoreAfter:G4} on held-out samples (local SQNR {d.LocalSqnrDb:F1} dB)");
        var result = new List<FloatLayer>();
        foreach (var node in quantModel.Graph.Nodes.Where(n => n.OpType is "MatMul" or "Gemm" or "Conv" or "ConvTranspose"))
        {
            bool quantized = node.Inputs.Any(v => v?.Producer is { OpType: "DequantizeLinear" or "DynamicQuantizeLinear" });
            if (quantized) continue;
            string name = node.Name ?? "";
            result.Add(new FloatLayer(name, node.OpType, reasons.GetValueOrDefault(name)
                ?? (node.Inputs.Skip(1).All(v => v is null || ConstantNode.ConstantOf(v) is null) ? "both inputs are activations (no constant weight); the recipe quantizes it only with op-types including it"
                : "not quantized by the recipe (no reason recorded)")));
        }
        return result;
    }
}
