using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// Pad-2 → Pad-11: the <c>pads</c> attribute becomes an int64 input and <c>value</c> (constant mode only) an optional
/// scalar input of the data's element type; a zero value is left out, as 0 is the default of both versions.
/// </summary>
internal sealed class PadConverter : OpConverter
{
    public override string OpType => "Pad";
    public override IReadOnlyList<int> Versions => [11];

    public override OnnxQuantException? Refusal(Node node, int version, UpgradeContext context)
    {
        if (node.GetInts("pads") is null)
            return context.Unsupported(node, version, "it has no pads attribute, which Pad-2 requires",
                "Fix the exporter's output: Pad-2 needs pads.");
        return NeedsValue(node)
            ? ScalarOfInputType.Refusal(node, node.Input(0), version, context,
                "its data's element type is unknown, so the padding value cannot be typed")
            : null;
    }

    protected override Converted Rewrite(Node node, int version, UpgradeContext context)
    {
        var pads = node.GetInts("pads")!;
        var scalar = NeedsValue(node) ? ScalarOfInputType.For(node, node.Inputs[0], context) : null;
        float value = node.GetFloat("value", 0f);
        var graph = node.Graph!;
        node.RemoveAttribute("pads");
        node.RemoveAttribute("value");
        node.TruncateInputs(1);
        node.AppendInput(context.Int64s(graph, pads, "pads"));
        if (scalar is not null) node.AppendInput(scalar(value, "pad_value"));
        return new(node, version);
    }

    private static bool NeedsValue(Node node) =>
        node.GetString("mode", "constant") == "constant" && node.GetFloat("value", 0f) != 0f;
}
