using System.ComponentModel;

namespace OnnxQuant.Passes.Canonicalization;

/// <summary>Options of <see cref="NoOpEliminationPass"/>.</summary>
public sealed class NoOpEliminationOptions
{
    [Description("Remove Add/Sub of a constant zero and Mul/Div by a constant one (when broadcasting changes nothing).")]
    public bool ArithmeticIdentities { get; set; } = true;

    [Description("Let recorded shapes decide that a Reshape/Flatten/Squeeze/Unsqueeze/Expand keeps its input's shape (input and output both fully static and equal). When off, only shapes worked out from constant operands count.")]
    public bool TrustRecordedShapes { get; set; } = true;
}
