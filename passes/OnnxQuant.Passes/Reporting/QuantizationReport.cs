using OnnxQuant.Passes.Quantization.AutoPrecision;
using OnnxQuant.Runtime.Audit;
using OnnxQuant.Runtime.Benchmarking;
using OnnxQuant.Runtime.Evaluation;

namespace OnnxQuant.Passes.Reporting;

/// <summary>
/// What <c>onnxquant report</c> shows about a quantized model against its float original: the error of every
/// intermediate tensor in network order (the same numbers as <c>eval --per-tensor</c>), the worst tensors' value
/// distributions, the weight error per layer, the integer kernels ONNX Runtime forms (the audit), the layers left in
/// float and why, how the tool made the model (its recorded provenance and decisions), latency and size.
/// </summary>
public sealed record QuantizationReport(
    string FloatModel,
    string QuantModel,
    EvalReport Evaluation,
    IReadOnlyList<LayerError> Layers,
    IReadOnlyList<TensorHistogram> WorstTensors,
    IReadOnlyList<WeightError> Weights,
    FusionAuditReport Audit,
    IReadOnlyList<FloatLayer> StayedFloat,
    IReadOnlyList<KeyValuePair<string, string>> Provenance,
    BenchReport? Latency,
    AutoPrecisionSummary? AutoPrecision = null);

/// <summary>One intermediate tensor's error, at its position in the float model's node order.</summary>
public sealed record LayerError(int Position, string Tensor, string Producer, string OpType, double? SqnrDb, double Cosine, double MaxAbsError, long Elements, bool Identical);

/// <summary>Histograms of one tensor's float and quantized values on the first sample, over one shared range.</summary>
public sealed record TensorHistogram(string Tensor, double? SqnrDb, double Min, double Max, long[] FloatCounts, long[] QuantCounts);

/// <summary>A layer's weight against the float weight: <see cref="Format"/> says how it is stored in the quantized model.</summary>
public sealed record WeightError(string Node, string OpType, string Weight, string Format, double? SqnrDb, double MaxAbsError, long Elements);

/// <summary>A compute layer (MatMul, Gemm, Conv…) that runs in float in the quantized model, and why.</summary>
public sealed record FloatLayer(string Node, string OpType, string Reason);
