using System.ComponentModel;
using System.Globalization;
using OnnxQuant.Ir;
using OnnxQuant.Runtime.Calibration;

namespace OnnxQuant.Passes.Equivalence;

/// <summary>Options of <see cref="SmoothQuantPass"/>.</summary>
public sealed class SmoothQuantOptions : IOptionRecord
{
    [Description("migration strength: a number α in [0, 1], s_j = max|X_j|^α / max|W_j|^(1−α) (0.5: the paper's default), or 'auto': per activation, the α on the grid 0, 0.05, …, 1 whose layers' output error under the following calibrate and insert-qdq steps' quantizer (activation type, symmetry, min-max or percentile range, weight bits and granularity; their defaults when alone) is least on sampled calibration rows")]
    public string Alpha { get; set; } = "0.5";

    [Description("with 'alpha: auto': at most this many activation rows (tokens) per activation, spread evenly over the calibration data, on which the error is measured")]
    public int AutoRows { get; set; } = 1024;

    [Description("with 'alpha: auto': the error is measured on at most this many output channels of each layer (spread evenly; every channel of a narrower layer), which bounds the search's cost on wide layers")]
    public int AutoColumns { get; set; } = 128;

    [Description("when nothing before an activation absorbs 1/s (GELU, a graph input...): insert a Mul by 1/s (true) or leave those layers as they are (false)")]
    public bool ExplicitMul { get; set; } = true;

    [Description("with 'alpha: auto': an explicit Mul (where nothing absorbs 1/s) is inserted only where smoothing lowers its layers' output error on the sampled rows by at least this fraction (0.1 = 10%; pointwise Conv groups measured at their alpha 0.5, other Conv groups always smoothed); a negative value inserts it wherever needed. A Mul costs a pass over the tensor at run time")]
    public double ExplicitMulMinGain { get; set; } = -1;

    [Description("also smooth Conv layers: per input channel (axis 1) of the activation a convolution reads, 1/s folded into the previous Conv's output channels and bias (through Relu/LeakyRelu/MaxPool), a BatchNormalization, a Mul by a per-channel constant, or an explicit Mul")]
    public bool Conv { get; set; } = true;

    [Description("collect the statistics and sampled rows on the whole model (off), one block at a time (on: each activation's alpha and s are found as soon as the block computing it has run, and its rows dropped, so memory is about one block's whatever the model's size; the same result), or block-wise above 2048 MB of weights (auto); --block-wise overrides")]
    public BlockWiseMode BlockWise { get; set; } = BlockWiseMode.Auto;

    [Description("block-wise: most MB of weights per block, as calibrate's block-mb")]
    public double BlockMb { get; set; } = 64;

    /// <summary>True for <c>alpha: auto</c>.</summary>
    public bool IsAuto => Alpha.Trim().Equals("auto", StringComparison.OrdinalIgnoreCase);

    /// <summary>The fixed α, or null for <c>auto</c>; throws the one-line error of <see cref="Problem"/> otherwise.</summary>
    public double? FixedAlpha()
    {
        if (Problem() is { } problem) throw new OnnxQuantException($"smooth-quant: {problem}");
        return IsAuto ? null : double.Parse(Alpha, NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    public string? Problem()
    {
        if (AutoRows < 1) return $"auto-rows is {AutoRows}; it must be at least 1 (e.g. 'auto-rows: 1024').";
        if (double.IsNaN(ExplicitMulMinGain)) return "explicit-mul-min-gain is not a number; use e.g. 'explicit-mul-min-gain: 0.25' (or a negative value for always).";
        if (!(BlockMb > 0)) return $"block-mb is {BlockMb}; it must be positive (e.g. 'block-mb: 64').";
        if (AutoColumns < 1) return $"auto-columns is {AutoColumns}; it must be at least 1 (e.g. 'auto-columns: 128').";
        if (IsAuto) return null;
        if (!double.TryParse(Alpha, NumberStyles.Float, CultureInfo.InvariantCulture, out double a))
            return $"alpha '{Alpha}' is neither a number nor 'auto'; use e.g. 'alpha: 0.5' or 'alpha: auto'.";
        if (a is < 0 or > 1 || double.IsNaN(a)) return $"alpha {Alpha} is outside [0, 1]; use e.g. 'alpha: 0.5' or 'alpha: auto'.";
        return null;
    }
}
