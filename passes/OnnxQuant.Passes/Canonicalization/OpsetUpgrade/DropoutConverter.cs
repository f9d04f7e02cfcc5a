using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// Dropout-7 → 10: the mask output changed from the data type to bool; a node whose mask is read is refused (its
/// consumers expect the old type), otherwise nothing changes. Dropout-10 → 12: the <c>ratio</c> attribute becomes an
/// optional float scalar input. In inference (no training_mode input) every version is the identity.
/// </summary>
internal sealed class DropoutConverter : OpConverter
{
    public override string OpType => "Dropout";
    public override IReadOnlyList<int> Versions => [10, 12];

    public override OnnxQuantException? Refusal(Node node, int version, UpgradeContext context) =>
        version == 10 && node.Outputs.Count > 1 && node.Outputs[1] is { } mask && (mask.Uses.Count > 0 || mask.IsAnyGraphOutput)
            ? context.Unsupported(node, version, "its mask output is used with the old element type",
                "Remove the Dropout (it is the identity at inference) before upgrading.")
            : null;

    protected override Converted Rewrite(Node node, int version, UpgradeContext context)
    {
        if (version == 10) return new(node, version);

        if (node.GetAttribute("ratio")?.AsFloat() is float ratio)
        {
            node.RemoveAttribute("ratio");
            node.TruncateInputs(1);
            node.AppendInput(context.Constant(node.Graph!, Tensor.FromFloats([ratio]), "dropout_ratio"));
        }
        return new(node, version);
    }
}
