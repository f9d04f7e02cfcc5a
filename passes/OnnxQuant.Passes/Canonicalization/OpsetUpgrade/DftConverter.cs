using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// DFT-17 → 20: the <c>axis</c> attribute (default 1) becomes the optional scalar int64 input 2 (default -2, which is
/// not the same axis for every rank, so the value is always written out).
/// </summary>
internal sealed class DftConverter : OpConverter
{
    public override string OpType => "DFT";
    public override IReadOnlyList<int> Versions => [20];

    protected override Converted Rewrite(Node node, int version, UpgradeContext context)
    {
        long axis = node.GetInt("axis", 1);
        node.RemoveAttribute("axis");
        while (node.Inputs.Count < 2) node.AppendInput(null);
        node.TruncateInputs(2);
        node.AppendInput(context.Constant(node.Graph!, Tensor.FromInt64s([axis]), "dft_axis"));
        return new(node, version);
    }
}
