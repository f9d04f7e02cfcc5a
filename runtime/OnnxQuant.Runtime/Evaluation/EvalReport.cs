namespace OnnxQuant.Runtime.Evaluation;

/// <summary>
/// Everything <c>onnxquant eval</c> measured. Serialized as-is (camelCase) for <c>--json</c>; the format is documented
/// in passes/OnnxQuant.Cli/docs/eval-json.md, and <see cref="SchemaVersion"/> changes when a field changes meaning.
/// </summary>
public sealed record EvalReport(
    int SchemaVersion,
    string Task,
    string FloatModel,
    string QuantModel,
    string Data,
    int Samples,
    string Optimization,
    IReadOnlyList<ErrorSummary> Outputs,
    TaskAccuracy? Accuracy,
    NextTokenAgreement? NextToken,
    PsnrResult? Psnr,
    IReadOnlyList<ErrorSummary>? Tensors,
    int? TensorsSkipped,
    IReadOnlyList<GateResult> Gates,
    bool Passed,
    string? ThenFloatModel = null,
    string? ThenQuantModel = null)
{
    public const int CurrentSchemaVersion = 1;
}
