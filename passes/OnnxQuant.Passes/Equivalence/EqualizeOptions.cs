using System.ComponentModel;

namespace OnnxQuant.Passes.Equivalence;

/// <summary>Options of <see cref="EqualizePass"/>.</summary>
public sealed class EqualizeOptions
{
    [Description("Most sweeps over every layer pair of the model; each sweep equalizes every pair once (a layer between two pairs is changed by both, so chains need a few sweeps).")]
    public int MaxIterations { get; set; } = 20;

    [Description("Stop once no channel scale of a sweep differs from 1 by more than this.")]
    public double Tolerance { get; set; } = 1e-4;

    [Description("High-bias absorption: move the calibrated lower bound of each always-positive pre-activation channel from layer 1's bias into layer 2's (needs --data; exact on the calibration data, and wherever a channel stays above that bound).")]
    public bool AbsorbHighBias { get; set; } = true;

    [Description("What layer 2's input-channel weight ranges are balanced against: weights (layer 1's output-channel weight ranges, the paper's data-free rule, for per-tensor weights), activations (the calibrated range of the tensor between the layers, which the per-tensor activation quantizer sees; needs --data), or auto (activations when the following insert-qdq quantizes weights per channel and --data is given, else weights).")]
    public EqualizeBalance Balance { get; set; } = EqualizeBalance.Auto;
}

/// <summary>What <see cref="EqualizePass"/> balances layer 2's input-channel weight ranges against.</summary>
public enum EqualizeBalance
{
    /// <summary>Activations when the following insert-qdq quantizes weights per channel and data is given; else weights.</summary>
    Auto,

    /// <summary>Layer 1's per-output-channel weight ranges (Nagel et al.'s data-free rule).</summary>
    Weights,

    /// <summary>The calibrated per-channel range of the tensor layer 2 reads.</summary>
    Activations,
}
