using System.ComponentModel;

namespace OnnxQuant.Passes.Equivalence;

/// <summary>Options of <see cref="SmoothQuantPass"/>.</summary>
public sealed class SmoothQuantOptions
{
    [Description("migration strength α in [0, 1]: s_j = max|X_j|^α / max|W_j|^(1−α) (0.5: the paper's default)")]
    public double Alpha { get; set; } = 0.5;

    [Description("when nothing before an activation absorbs 1/s (GELU, a graph input...): insert a Mul by 1/s (true) or leave those layers as they are (false)")]
    public bool ExplicitMul { get; set; } = true;
}
