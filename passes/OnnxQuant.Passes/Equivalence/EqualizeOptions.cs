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
}
