using System.ComponentModel;

namespace OnnxQuant.Passes.Canonicalization;

/// <summary>Options of <see cref="ConstantsToValuesPass"/>.</summary>
public sealed class ConstantsToValuesOptions
{
    [Description("Also turn Constant nodes inside If/Loop/Scan bodies into constants of those bodies.")]
    public bool Subgraphs { get; set; } = true;
}
