using System.ComponentModel;

namespace OnnxQuant.Passes.Canonicalization;

/// <summary>Options of <see cref="OpsetUpgradePass"/>.</summary>
public sealed class OpsetUpgradeOptions
{
    [Description("ai.onnx opset to upgrade to; models already at or above it are left alone")]
    public int TargetOpset { get; set; } = 21;
}
