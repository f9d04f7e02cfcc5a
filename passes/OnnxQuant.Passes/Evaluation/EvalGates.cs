using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Evaluation;

/// <summary>
/// CI gates on task accuracy: <c>min-top1</c> (quantized rate ≥ V percent) and <c>max-drop</c> (float rate −
/// quantized rate ≤ D percentage points). A gate without labelled accuracy to check is a usage error, not a pass.
/// </summary>
public static class EvalGates
{
    public static IReadOnlyList<GateResult> Check(TaskAccuracy? accuracy, double? minTop1, double? maxDrop)
    {
        var gates = new List<GateResult>();
        if (minTop1 is null && maxDrop is null) return gates;
        if (accuracy is not { Labeled: true, QuantRate: double quant, FloatRate: double floatRate })
            throw new OnnxQuantException("--min-top1 and --max-drop check task accuracy: use --task classify or --task ctc with --labels.");
        if (minTop1 is double v) gates.Add(new GateResult("min-top1", v, quant, quant >= v));
        if (maxDrop is double d)
        {
            double drop = floatRate - quant;
            gates.Add(new GateResult("max-drop", d, drop, drop <= d));
        }
        return gates;
    }
}
