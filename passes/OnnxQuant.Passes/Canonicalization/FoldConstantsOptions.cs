using System.ComponentModel;

namespace OnnxQuant.Passes.Canonicalization;

/// <summary>Options of <see cref="FoldConstantsPass"/>.</summary>
public sealed class FoldConstantsOptions
{
    [Description("A node whose outputs together would take more bytes than this is left alone.")]
    public long MaxOutputBytes { get; set; } = 1 << 20;

    [Description("Outputs up to this many bytes fold even when they are larger than the node's inputs; above it, a node folds only when its outputs take no more bytes than its inputs, so folding never grows the model much.")]
    public long SmallOutputBytes { get; set; } = 4096;

    [Description("Turn Shape and Size of values whose (needed) dimensions are all known into constants.")]
    public bool FoldShapes { get; set; } = true;

    [Description("Fold DequantizeLinear of constant weights too. Off by default: a quantized model keeps its weights quantized and dequantizes them at run time (that pattern is what quantized kernels look for).")]
    public bool FoldDequantizeLinear { get; set; }
}
