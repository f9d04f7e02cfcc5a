using System.ComponentModel;

namespace OnnxQuant.Passes.Equivalence;

/// <summary>Options of <see cref="RotatePass"/>.</summary>
public sealed class RotateOptions
{
    [Description("run the cleanup preset first (fuses decomposed LayerNorm/RMS norm, folds constants), so the pass works on models as exported; presets that clean up before turn it off")]
    public bool Canonicalize { get; set; } = true;

    [Description("seed of the residual stream's random ±1 signs (Q = diag(s)·H/√d); the run's --seed when absent")]
    public int? Seed { get; set; }

    [Description("per-head Hadamard on V and the out-projection's input (folded into both weights, no online op)")]
    public bool PerHead { get; set; } = true;

    [Description("Hadamard on the fc2/down-projection input: folded into its weight and applied online as a MatMul by the constant H")]
    public bool OnlineHadamard { get; set; } = true;
}
