using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>GridSample-16 → 20: modes "bilinear"/"bicubic" are spelled "linear"/"cubic" (the defaults agree).</summary>
internal sealed class GridSampleConverter : OpConverter
{
    public override string OpType => "GridSample";
    public override IReadOnlyList<int> Versions => [20];

    protected override Converted Rewrite(Node node, int version, UpgradeContext context)
    {
        string? renamed = node.GetAttribute("mode")?.AsString() switch
        {
            "bilinear" => "linear",
            "bicubic" => "cubic",
            _ => null,
        };
        if (renamed is not null) node.SetAttribute(Attribute.String("mode", renamed));
        return new(node, version);
    }
}
