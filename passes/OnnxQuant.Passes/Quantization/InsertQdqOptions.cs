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

    [Description("type of activations (int16/uint16/int4/uint4: opset 21, float8: opset 19; only uint8/int8 are fused by ORT's CPU provider)")]
    public QdqActivationType ActivationType { get; set; } = QdqActivationType.UInt8;

    [Description("emulated activation width 2..8: codes clipped to 2^b values stored in the activation type (a Clip before each QuantizeLinear); empty: the type's width")]
    public int? ActivationBits { get; set; }

    [Description("activation bits of the model's inputs (e.g. 8 for the patch embedding's input in a 4-bit recipe); empty: activation-bits")]
    public int? ModelInputBits { get; set; }

    [Description("format of activation-type float8: e4m3fn (max 448) or e5m2 (max 57344)")]
    public Float8Format Float8Format { get; set; } = Float8Format.E4m3fn;

    [Description("float8 activation scale: range (max|x| of the calibrated range / the format's largest value) or distribution (std of the calibrated histogram / std of the format's finite values, ONNX Runtime's float8 rule)")]
    public Float8ScaleRule Float8Scale { get; set; } = Float8ScaleRule.Range;

    [Description("weights (and biases) of the quantized nodes: quantized, or float (only activations get Q/DQ; for studies of activation quantization alone, nothing is fused)")]
    public QdqWeights Weights { get; set; } = QdqWeights.Quantized;

    [Description("weight bits 2..8, stored as int8 symmetric codes in [-(2^(b-1)-1), 2^(b-1)-1]")]
    public int WeightBits { get; set; } = 8;

    [Description("one weight scale per output channel or per tensor")]
    public QdqWeightGranularity WeightGranularity { get; set; } = QdqWeightGranularity.PerChannel;

    [Description("how weights are rounded: rtn (round to nearest) or gptq (MatMul/Gemm weights, from each layer's calibrated XᵀX; Conv weights round to nearest)")]
    public WeightRounding Rounding { get; set; } = WeightRounding.Rtn;

    [Description("search each weight channel's range (shrunk by up to 50% on a grid of 1/40) for the least layer-output error: H-weighted by the calibrated XᵀX of MatMul/Gemm inputs (requested from the calibrate step), weight MSE for Conv; then round as 'rounding' says")]
    public bool WeightClipSearch { get; set; }

    [Description("symmetric activation ranges (zero point 0 for int8, 128 for uint8)")]
    public bool SymmetricActivations { get; set; }

    [Description("per-tensor or per-node settings: [{nodes|tensors: GLOB, exclude, activation-type, activation-bits, symmetric-activations, weight-granularity, method, percentile}]")]
    public List<QdqOverride> Overrides { get; set; } = [];

    [Description("GPTQ damping (fraction of mean diag H), with rounding: gptq")]
    public double GptqDamp { get; set; } = 0.01;

    [Description("accept a model in which insert-dynamic-qdq already quantized some MatMul/Gemm (mixed static/dynamic presets such as w8a8-diffusion); those nodes stay as they are")]
    public bool AfterDynamic { get; set; }

    [Description(NonFiniteWeights.OptionDescription)]
    public NonFiniteWeightsPolicy NonFinite { get; set; } = NonFiniteWeightsPolicy.Error;
}
