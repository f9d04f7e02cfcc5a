using System.ComponentModel;
using OnnxQuant.Runtime.Calibration;

namespace OnnxQuant.Passes.Equivalence.Awq;

/// <summary>Options of <see cref="AwqPass"/>. The weight format searched for is the following quantize-weights step's;
/// <see cref="Bits"/>, <see cref="BlockSize"/> and <see cref="Symmetric"/> override it (or w4a16's when none follows).</summary>
public sealed class AwqOptions
{
    [Description("bits the weights will be quantized to; unset: the following quantize-weights step's (none: 4, as w4a16)")]
    public int? Bits { get; set; }

    [Description("weights per scale along K (power of two 16..256 or per-channel); unset: the following quantize-weights step's (none: 32)")]
    public string? BlockSize { get; set; }

    [Description("symmetric weights; unset: the following quantize-weights step's (none: true)")]
    public bool? Symmetric { get; set; }

    [Description("points of the α grid: α = 0, 1/n, …, (n−1)/n (20: 0, 0.05, …, 0.95, the paper's)")]
    public int Grid { get; set; } = 20;

    [Description("after the scale search, shrink each block's range to the clip ratio (1 − i/20, i < 20·max-shrink) with the least output error, folding the clipping into the weights (changes the float model: the quantizer then takes the clipped range)")]
    public bool Clip { get; set; } = true;

    [Description("clip search: the largest fraction a block's range may shrink by (0.5: ratios 1, 0.95, …, 0.55)")]
    public double MaxShrink { get; set; } = 0.5;

    [Description("when nothing before an activation absorbs 1/s (attention output, GELU, a graph input): insert a Mul by 1/s (true) or leave those layers as they are (false)")]
    public bool ExplicitMul { get; set; } = true;

    [Description("collect the statistics on the whole model (off), one block at a time (on: each group is searched and rewritten as soon as the blocks holding its layers have run, and its statistics dropped, so memory is about one block's whatever the model's size; the same result), or block-wise above 2048 MB of weights (auto); --block-wise overrides")]
    public BlockWiseMode BlockWise { get; set; } = BlockWiseMode.Auto;

    [Description("block-wise: most MB of weights per block, as calibrate's block-mb")]
    public double BlockMb { get; set; } = 64;
}
