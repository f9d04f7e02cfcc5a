using System.Globalization;
using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization.Diffusion;

/// <summary>
/// <c>psnr=DB</c>: the mean PSNR of a quantized sampler's final samples against the float sampler's from the same
/// noise must be at least DB — judged on the held-out samples by a one-sided lower confidence bound,
/// mean − z·s/√n (s the samples' standard deviation), not by their mean alone, so that a target met on 16 held-out
/// samples is also met, with that confidence, on the many samples a user draws (per-sample PSNRs of a sampler spread
/// by several dB: a few samples diverge).
/// </summary>
public sealed record FinalSampleTarget(double PsnrDb)
{
    public static FinalSampleTarget Parse(string text, string pass)
    {
        int eq = text.IndexOf('=', StringComparison.Ordinal);
        string key = eq < 0 ? text.Trim() : text[..eq].Trim().ToLowerInvariant();
        if (eq < 0 || key != "psnr" || !double.TryParse(text[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double db) || !double.IsFinite(db))
            throw new OnnxQuantException($"{pass}: target '{text}' is not psnr=DB (the mean PSNR of the final samples against the float sampler's, e.g. psnr=40).");
        return new FinalSampleTarget(db);
    }

    /// <summary>The lower confidence bound of the mean of <paramref name="psnrs"/>: mean − z·s/√n (the mean for one sample).</summary>
    public static double LowerBound(IReadOnlyList<double> psnrs, double z)
    {
        double mean = psnrs.Average();
        if (psnrs.Count < 2) return mean;
        double variance = psnrs.Sum(p => (p - mean) * (p - mean)) / (psnrs.Count - 1);
        return mean - z * Math.Sqrt(variance / psnrs.Count);
    }

    public bool Holds(double lowerBound) => lowerBound >= PsnrDb - 1e-9;

    public override string ToString() => $"psnr={PsnrDb.ToString(CultureInfo.InvariantCulture)}";
}
