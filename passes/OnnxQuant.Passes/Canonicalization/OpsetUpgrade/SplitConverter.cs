using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// Split-11 → 13: the <c>split</c> attribute (part sizes) becomes the optional int64 input 1. Split-13 → 18: without a
/// split input the number of equal parts must be given as <c>num_outputs</c>; it is the node's output count, which is
/// what Split-13 divided by.
/// </summary>
internal sealed class SplitConverter : OpConverter
{
    public override string OpType => "Split";
    public override IReadOnlyList<int> Versions => [13, 18];

    protected override Converted Rewrite(Node node, int version, UpgradeContext context)
    {
        if (version == 13)
        {
            var split = node.GetInts("split");
            node.RemoveAttribute("split");
            if (split is { Count: > 0 })
            {
                node.TruncateInputs(1);
                node.AppendInput(context.Int64s(node.Graph!, split, "split"));
            }
            return new(node, version);
        }
        if (node.Input(1) is null && node.GetAttribute("num_outputs") is null)
            node.SetAttribute(Attribute.Int("num_outputs", node.Outputs.Count));
        return new(node, version);
    }
}
