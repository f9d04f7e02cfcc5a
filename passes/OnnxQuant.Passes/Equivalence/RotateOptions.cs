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

    [Description("ViDiT-Q: do not rotate the residual stream; rotate the input of every MatMul/Gemm with a constant 2-D weight instead (x·H by one inserted MatMul per input tensor, shared by its readers; Hᵀ folded into each reader's weight), the out-projection per head where per-head applies. For models whose stream cannot be rotated, e.g. adaLN-modulated DiTs")]
    public bool OnlineInputs { get; set; }

    [Description("with online-inputs: node-name globs (* and ?) of layers whose input is not rotated")]
    public List<string> ExcludeNodes { get; set; } = [];

    [Description("with online-inputs: the conditioning path of a diffusion denoiser (layers whose input depends on no rank >= 3 graph input; they stay float in the diffusion presets) is not rotated")]
    public bool ExcludeConditioningPath { get; set; }

    [Description("with online-inputs: layers that reach a graph output through no other MatMul/Gemm/Conv (the final projection) are not rotated")]
    public bool ExcludeOutputLayers { get; set; }
}
