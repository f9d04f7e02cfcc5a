using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.LinearLayers;

namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// The rounder the QDQ passes use for <c>rounding: gptq</c>: GPTQ (Frantar et al. 2022) for MatMul/Gemm through the
/// calibrated XᵀX of each layer's input (with the rank-deficiency warning), round to nearest for everything else (a
/// Conv's im2col input is not calibrated).
/// </summary>
internal static class GptqMatMulRounder
{
    /// <summary>
    /// <paramref name="calibratedInput"/> maps a layer to the value calibration saw as its input (a rewrite may have
    /// replaced it since); <paramref name="pass"/> names the pass in the error and the warning.
    /// </summary>
    public static IWeightRounder Create(string pass, GptqSettings settings, Func<LinearLayer, Value> calibratedInput, PassContext context)
    {
        var calibration = context.GetAnalysis<CalibrationResult>()
            ?? throw new OnnxQuantException($"{pass}: rounding: gptq reads each layer's calibrated XᵀX; run a calibrate step (with --data) before '{pass}'.");
        settings.Validate(pass);
        var gptq = new GptqRounder(RankDeficientHessianWarning.Wrap(layer =>
        {
            var (matrix, _, rows) = calibration.SecondMoment(calibratedInput(layer));
            return (matrix, rows);
        }, pass, context.Log), settings);
        return new PerLayerRounder(gptq, new RoundToNearest(), layer => layer is { Node.OpType: "MatMul" or "Gemm", Groups: 1 }, context);
    }
}
