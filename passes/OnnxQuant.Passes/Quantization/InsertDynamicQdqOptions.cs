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

    [Description("how weights are rounded to int8: rtn (round to nearest)")]
    public WeightRounding Rounding { get; set; } = WeightRounding.Rtn;
}
