using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// Clip-6 → Clip-11: the <c>min</c>/<c>max</c> float attributes become optional scalar inputs of the input's element
/// type. An absent attribute stays an absent input (both mean "unbounded").
/// </summary>
internal sealed class ClipConverter : OpConverter
{
    public override string OpType => "Clip";
    public override IReadOnlyList<int> Versions => [11];

    public override OnnxQuantException? Refusal(Node node, int version, UpgradeContext context) =>
        node.GetAttribute("min") is null && node.GetAttribute("max") is null
            ? null
            : ScalarOfInputType.Refusal(node, node.Input(0), version, context,
                "its input's element type is unknown, so the bounds cannot be typed");

    protected override Converted Rewrite(Node node, int version, UpgradeContext context)
    {
        float? min = node.GetAttribute("min")?.AsFloat();
        float? max = node.GetAttribute("max")?.AsFloat();
        if (min is null && max is null) return new(node, version);

        var bound = ScalarOfInputType.For(node, node.Inputs[0], context);
        node.RemoveAttribute("min");
        node.RemoveAttribute("max");
        node.TruncateInputs(1);
        node.AppendInput(min is float lo ? bound(lo, "clip_min") : null);
        if (max is float hi) node.AppendInput(bound(hi, "clip_max"));
        return new(node, version);
    }
}
