using System.ComponentModel;
using OnnxQuant.Passes.Quantization.Rounding;

namespace OnnxQuant.Passes.Quantization;

/// <summary>Options of <see cref="InsertQdqPass"/>.</summary>
public sealed class InsertQdqOptions
{
    [Description("op types to quantize (MatMul, Gemm, Conv, ConvTranspose, Add, Mul, Concat, AveragePool, GlobalAveragePool, Sigmoid, LeakyRelu, Softmax); empty: MatMul, Gemm, Conv (ORT does not fuse ConvTranspose; the weightless ops are opt-in)")]
    public List<string> OpTypes { get; set; } = [];

    [Description("op types never to quantize (wins over op-types)")]
    public List<string> ExcludeOpTypes { get; set; } = [];

    [Description("node-name globs (* and ?) whose nodes stay float")]
    public List<string> ExcludeNodes { get; set; } = [];

    [Description("integer type of activations (int16/uint16: opset 21, more accurate, not faster on CPU)")]
    public QdqActivationType ActivationType { get; set; } = QdqActivationType.UInt8;

    [Description("one weight scale per output channel or per tensor")]
    public QdqWeightGranularity WeightGranularity { get; set; } = QdqWeightGranularity.PerChannel;

    [Description("how weights are rounded to int8: rtn (round to nearest)")]
    public WeightRounding Rounding { get; set; } = WeightRounding.Rtn;

    [Description("symmetric activation ranges (zero point 0 for int8, 128 for uint8)")]
    public bool SymmetricActivations { get; set; }

    [Description("per-tensor or per-node settings: [{nodes|tensors: GLOB, exclude, activation-type, symmetric-activations, weight-granularity, method, percentile}]")]
    public List<QdqOverride> Overrides { get; set; } = [];

    [Description(NonFiniteWeights.OptionDescription)]
    public NonFiniteWeightsPolicy NonFinite { get; set; } = NonFiniteWeightsPolicy.Error;
}
