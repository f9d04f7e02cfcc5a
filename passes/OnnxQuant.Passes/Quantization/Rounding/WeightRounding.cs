using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>The <c>rounding</c> option of the passes that quantize weights: which <see cref="IWeightRounder"/> rounds them.</summary>
public enum WeightRounding
{
    /// <summary>Round-to-nearest (<see cref="RoundToNearest"/>).</summary>
    Rtn,

    /// <summary>GPTQ (<see cref="GptqRounder"/>): error feedback through the layer input's XᵀX, which a calibrate step
    /// before the pass collects; quantize-weights and insert-qdq.</summary>
    Gptq,

    /// <summary>GPTQT (<see cref="GptqtRounder"/>): GPTQ to a wider linear grid, then binary coding with 'bits' planes,
    /// exported as a standard-ONNX float decomposition; quantize-weights with format dq only.</summary>
    Gptqt,
}

/// <summary>The rounder of each <see cref="WeightRounding"/> choice.</summary>
public static class WeightRounders
{
    public static IWeightRounder For(WeightRounding rounding) => rounding switch
    {
        WeightRounding.Rtn => new RoundToNearest(),
        WeightRounding.Gptq => throw new OnnxQuantException(
            "rounding: gptq is supported by quantize-weights, insert-qdq and insert-dynamic-qdq only (it needs each layer's calibrated XᵀX); use rounding: rtn here."),
        WeightRounding.Gptqt => throw new OnnxQuantException(
            "rounding: gptqt is supported by quantize-weights only (it needs each layer's calibrated XᵀX); use rounding: rtn here."),
        _ => throw new ArgumentOutOfRangeException(nameof(rounding), rounding, "No rounder for this choice."),
    };
}
