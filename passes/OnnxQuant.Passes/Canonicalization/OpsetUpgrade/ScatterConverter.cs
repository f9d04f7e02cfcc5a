using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>Scatter is deprecated at opset 11 in favour of ScatterElements, which has the same inputs and meaning.</summary>
internal sealed class ScatterConverter : OpConverter
{
    public override string OpType => "Scatter";
    public override IReadOnlyList<int> Versions => [11];

    protected override Converted Rewrite(Node node, int version, UpgradeContext context)
    {
        node.OpType = "ScatterElements";
        return new(node, version);
    }
}
