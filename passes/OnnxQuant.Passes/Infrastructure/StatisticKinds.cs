using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Passes;

/// <summary>
/// Kinds of calibration statistics a pass reads (<see cref="StatisticsUse.Reads"/>). A pass asks for them per value
/// (<see cref="Calibration.StatisticsRequests"/>) and may ask only for the kinds it declares.
/// </summary>
[Flags]
public enum StatisticKinds
{
    None = 0,

    /// <summary>A range per tensor, by the calibrate step's method (min/max plus the histogram the method needs).</summary>
    Range = 1,

    /// <summary>A histogram of a tensor's values or magnitudes, for a pass that chooses its own cut-offs.</summary>
    Histogram = 2,

    /// <summary>Per-channel min, max and abs-max (SmoothQuant's max|X_j|).</summary>
    ChannelAbsMax = 4,

    /// <summary>Per-channel mean |x| (AWQ) and mean x (bias correction).</summary>
    ChannelMean = 8,

    /// <summary>XᵀX (K×K) of a linear layer's input over its rows (GPTQ's Hessian).</summary>
    SecondMoment = 16,

    /// <summary>Per-token (row) abs-max, summarized over all tokens.</summary>
    Tokens = 32,
}
