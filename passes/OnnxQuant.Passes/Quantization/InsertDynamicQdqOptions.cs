using System.ComponentModel;
using OnnxQuant.Passes.Quantization.Rounding;

namespace OnnxQuant.Passes.Quantization;

/// <summary>Options of <see cref="InsertDynamicQdqPass"/>.</summary>
public sealed class InsertDynamicQdqOptions
{
    [Description("op types to quantize (MatMul, Gemm); empty: both. Conv stays float: ORT's ConvInteger is unfused and slower than float")]
    public List<string> OpTypes { get; set; } = [];

    [Description("node-name globs (* and ?) whose nodes stay float")]
    public List<string> ExcludeNodes { get; set; } = [];

    [Description("diffusion denoisers: layers whose input depends on no rank >= 3 graph input (timestep/class embedding MLP, adaLN modulation) stay float")]
    public bool ExcludeConditioningPath { get; set; }

    [Description("layers that reach a graph output through no other MatMul/Gemm/Conv (the final projection) stay float")]
    public bool ExcludeOutputLayers { get; set; }

    [Description("one weight scale per output column or per tensor")]
    public QdqWeightGranularity WeightGranularity { get; set; } = QdqWeightGranularity.PerChannel;

    [Description(NonFiniteWeights.OptionDescription)]
    public NonFiniteWeightsPolicy NonFinite { get; set; } = NonFiniteWeightsPolicy.Error;

    [Description("how weights are rounded: rtn (round to nearest) or gptq (error feedback through each layer's calibrated XᵀX; needs a calibrate step before)")]
    public WeightRounding Rounding { get; set; } = WeightRounding.Rtn;

    [Description("bits per weight: 8 (int8) or 4 (int4 codes in [-7, 7] stored as opset-21 int4 and cast to int8 for MatMulInteger, which ONNX Runtime folds at load: half the weight bytes, the same int8 kernel; needs opset >= 21)")]
    public int WeightBits { get; set; } = 8;

    [Description("gptq: damping added to the Hessian's diagonal, as a fraction of its mean diagonal")]
    public double GptqDamp { get; set; } = 0.01;

    [Description("gptq: round columns in order of decreasing Hessian diagonal (act-order)")]
    public bool GptqActOrder { get; set; }
}
