using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.Evaluation;

/// <summary>
/// CI gates on task accuracy: <c>min-top1</c> (quantized rate ≥ V percent) and <c>max-drop</c> (float rate −
/// quantized rate ≤ D percentage points); on a language model's next-token predictions: <c>min-agreement</c>
/// (agreement ≥ A percent) and <c>max-kl</c> (mean KL ≤ K nats). A gate without the measurement it checks is a
/// usage error, not a pass.
/// </summary>
public static class EvalGates
{
    public static IReadOnlyList<GateResult> Check(TaskAccuracy? accuracy, double? minTop1, double? maxDrop, PsnrResult? psnr = null)
    {
        var gates = new List<GateResult>();
        if (minTop1 is null && maxDrop is null) return gates;
        if (psnr is not null)
        {
            // Reconstruction: the drop is in dB of PSNR; there is no top-1 to bound.
            if (minTop1 is not null) throw new OnnxQuantException("--min-top1 checks classification or CTC accuracy; with --task psnr use --max-drop DB.");
            gates.Add(new GateResult("max-drop", maxDrop!.Value, psnr.DropDb, psnr.DropDb <= maxDrop.Value));
            return gates;
        }
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

    public static IReadOnlyList<GateResult> CheckNextToken(NextTokenAgreement? nextToken, double? minAgreement, double? maxKl)
    {
        var gates = new List<GateResult>();
        if (minAgreement is null && maxKl is null) return gates;
        if (nextToken is null)
            throw new OnnxQuantException("--min-agreement and --max-kl check next-token predictions, but the float model has no logits output "
                + "(floating point, [batch, seq, vocab] or [seq, vocab]) to score.");
        if (minAgreement is double a) gates.Add(new GateResult("min-agreement", a, nextToken.AgreementRate, nextToken.AgreementRate >= a));
        // NaN (an output holding NaN) fails the gate: the comparison is false.
        if (maxKl is double k) gates.Add(new GateResult("max-kl", k, nextToken.MeanKl, nextToken.MeanKl <= k));
        return gates;
    }
}
