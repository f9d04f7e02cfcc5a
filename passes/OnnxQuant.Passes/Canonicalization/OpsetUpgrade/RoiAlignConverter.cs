using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// RoiAlign-10 → 16: the new coordinate_transformation_mode defaults to "half_pixel", but opset 10 mapped coordinates
/// without the half-pixel shift, which opset 16 calls "output_half_pixel"; that value is written out.
/// </summary>
internal sealed class RoiAlignConverter : OpConverter
{
    public override string OpType => "RoiAlign";
    public override IReadOnlyList<int> Versions => [16];

    protected override Converted Rewrite(Node node, int version, UpgradeContext context)
    {
        if (node.GetAttribute("coordinate_transformation_mode") is null)
            node.SetAttribute(Attribute.String("coordinate_transformation_mode", "output_half_pixel"));
        return new(node, version);
    }
}
