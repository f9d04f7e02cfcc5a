using System.ComponentModel;
using OnnxQuant.Passes.Quantization.Rounding;

namespace OnnxQuant.Passes.Quantization.WeightOnly;

/// <summary>Options of <see cref="QuantizeWeightsPass"/>.</summary>
public sealed class QuantizeWeightsOptions
{
    [Description("bits per weight, 2..8 (matmulnbits: 2, 3 (as 4-bit codes), 4 or 8)")]
    public int Bits { get; set; } = 4;

    [Description("weights per scale along K: a power of two 16..256, or per-channel (one scale per output channel)")]
    public string BlockSize { get; set; } = "32";

    [Description("symmetric weights (no zero point); false: asymmetric, with a zero point per block")]
    public bool Symmetric { get; set; } = true;

    [Description("how weights are rounded to the grid: rtn (round to nearest), gptq (error feedback through the calibrated XᵀX of each layer's input; needs a calibrate step before) or gptqt (GPTQ to gptqt-linear-bits, then binary coding in 'bits' planes; format dq only)")]
    public WeightRounding Rounding { get; set; } = WeightRounding.Rtn;

    [Description("gptq: damping added to the Hessian's diagonal, as a fraction of its mean diagonal")]
    public double GptqDamp { get; set; } = 0.01;

    [Description("gptq: columns rounded per block before the later columns are updated")]
    public int GptqBlockSize { get; set; } = 128;

    [Description("gptq: round columns in order of decreasing Hessian diagonal (act-order), with static groups so the exported group layout is unchanged")]
    public bool GptqActOrder { get; set; }

    [Description("gptq: after rounding, re-solve each row's block scales (and integer zero points) by least squares toward the float layer output (H-weighted), the integer codes kept; a row keeps its scales unless the error drops (rounding: gptq only; ignored by rtn and gptqt)")]
    public bool GptqRefitScales { get; set; }

    [Description("gptq/gptqt: calibrate layer by layer - each layer's XᵀX from the model with the layers before it already quantized (one calibration run over --data per distinct layer input; no calibrate step needed before)")]
    public bool GptqSequential { get; set; }

    [Description("gptqt: bits of the linear grid GPTQ rounds to before the conversion to 'bits' binary planes (more than bits, at most 8)")]
    public int GptqtLinearBits { get; set; } = 3;

    [Description("each block's range shrunk by f = 1, 1 - 1/40, ..., 0.5 and the least error kept before rounding: off, mse (weight error, no data) or output (layer-output error through the calibrated XᵀX of its input; needs a calibrate step before); not with rounding: gptqt")]
    public WeightClipSearchMode ClipSearch { get; set; } = WeightClipSearchMode.Off;

    [Description("matmulnbits (com.microsoft MatMulNBits) or dq (blocked DequantizeLinear, opset 21, feeding the MatMul/Gemm)")]
    public WeightOnlyFormat Format { get; set; } = WeightOnlyFormat.MatMulNBits;

    [Description("MatMulNBits accuracy_level: 0 float activations, 4 int8 activations (W4A8); 1-3 compute in fp32/fp16/bf16")]
    public int AccuracyLevel { get; set; }

    [Description("op types to quantize (MatMul, Gemm); empty: both")]
    public List<string> OpTypes { get; set; } = [];

    [Description("node-name globs (* and ?) whose nodes stay float")]
    public List<string> ExcludeNodes { get; set; } = [];

    [Description("diffusion denoisers: layers whose input depends on no rank >= 3 graph input (timestep/class embedding MLP, adaLN modulation) stay float")]
    public bool ExcludeConditioningPath { get; set; }

    [Description("layers that reach a graph output through no other MatMul/Gemm/Conv (the final projection) stay float, before lm-head is considered")]
    public bool ExcludeOutputLayers { get; set; }

    [Description("the last MatMul/Gemm producing the logits output: float, 8 or 4 (bits)")]
    public string LmHead { get; set; } = "8";

    [Description("Gather on a constant 2-D table (embedding): float, 8 or 4 (bits)")]
    public string Embedding { get; set; } = "float";

    [Description(NonFiniteWeights.OptionDescription)]
    public NonFiniteWeightsPolicy NonFinite { get; set; } = NonFiniteWeightsPolicy.Error;
}
