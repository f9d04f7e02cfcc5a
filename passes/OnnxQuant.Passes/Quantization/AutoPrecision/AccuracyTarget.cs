using OnnxQuant.Ir;
using System.Globalization;

namespace OnnxQuant.Passes.Quantization.AutoPrecision;

/// <summary>What a metric auto-precision measures is: output SQNR against float, or a task score (classify top-1,
/// CTC exact match, reconstruction PSNR) whose drop from float is bounded.</summary>
public enum TargetMetric
{
    /// <summary>SQNR of all outputs against the float model's, in dB (higher is better).</summary>
    Sqnr,

    /// <summary>Top-1 rate in percent against labels (classify), or exact match with keys (CTC).</summary>
    Top1,

    /// <summary>Mean per-sample PSNR of the first output against the first input, images in [0, 1].</summary>
    Psnr,
}

/// <summary>
/// A parsed <c>--target</c>: <c>sqnr=30</c> (output SQNR ≥ 30 dB), <c>top1-drop=0.5</c> (float top-1 − quantized
/// top-1 ≤ 0.5 points on the held-out labelled samples), <c>psnr-drop=0.3</c> (float PSNR − quantized PSNR ≤ 0.3 dB).
/// </summary>
public sealed record AccuracyTarget(TargetMetric Metric, double Value)
{
    public static AccuracyTarget Parse(string text)
    {
        int eq = text.IndexOf('=', StringComparison.Ordinal);
        string key = eq < 0 ? text : text[..eq].Trim().ToLowerInvariant();
        if (eq < 0 || !double.TryParse(text[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
            throw new OnnxQuantException($"target '{text}' is not KIND=NUMBER; write sqnr=30, top1-drop=0.5 or psnr-drop=0.3.");
        var metric = key switch
        {
            "sqnr" => TargetMetric.Sqnr,
            "top1-drop" => TargetMetric.Top1,
            "psnr-drop" => TargetMetric.Psnr,
            _ => throw new OnnxQuantException($"target '{text}': '{key}' is not a target; write sqnr=DB, top1-drop=POINTS or psnr-drop=DB."),
        };
        if (metric != TargetMetric.Sqnr && value < 0)
            throw new OnnxQuantException($"target '{text}': a drop is 0 or more.");
        return new AccuracyTarget(metric, value);
    }

    /// <summary>Whether <paramref name="score"/> (of the quantized model) meets the target, <paramref name="floatScore"/> being the float model's.</summary>
    public bool Holds(double score, double floatScore) =>
        Metric == TargetMetric.Sqnr ? score >= Value : floatScore - score <= Value + 1e-9;

    public override string ToString() => Metric switch
    {
        TargetMetric.Sqnr => $"sqnr={Value.ToString(CultureInfo.InvariantCulture)}",
        TargetMetric.Top1 => $"top1-drop={Value.ToString(CultureInfo.InvariantCulture)}",
        _ => $"psnr-drop={Value.ToString(CultureInfo.InvariantCulture)}",
    };
}
