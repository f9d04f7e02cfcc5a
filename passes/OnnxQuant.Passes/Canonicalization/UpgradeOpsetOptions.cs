using System.ComponentModel;

namespace OnnxQuant.Passes.Canonicalization;

/// <summary>Options of <see cref="UpgradeOpsetPass"/>.</summary>
public sealed class UpgradeOpsetOptions
{
    [Description("ai.onnx opset to upgrade to; models already at or above it are left alone")]
    public int TargetOpset { get; set; } = 21;
}
