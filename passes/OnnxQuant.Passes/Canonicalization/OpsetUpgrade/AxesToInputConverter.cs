using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// The <c>axes</c> attribute becomes the optional int64 input 1: Squeeze/Unsqueeze/ReduceSum at opset 13, the other
/// Reduce* ops at 18. An absent (or, for Reduce*, empty) attribute stays an absent input: "all axes" for Reduce* (with
/// noop_with_empty_axes at its default 0) and "every size-1 axis" for Squeeze, as before.
/// </summary>
internal sealed class AxesToInputConverter : OpConverter
{
    public AxesToInputConverter(string opType, int version)
    {
        OpType = opType;
        Versions = [version];
    }

    public override string OpType { get; }
    public override IReadOnlyList<int> Versions { get; }

    public override OnnxQuantException? Refusal(Node node, int version, UpgradeContext context) =>
        OpType == "Unsqueeze" && node.GetInts("axes") is not { Count: > 0 }
            ? context.Unsupported(node, version, "it has no axes attribute, which Unsqueeze requires",
                "Fix the exporter's output: Unsqueeze needs its axes.")
            : null;

    protected override Converted Rewrite(Node node, int version, UpgradeContext context)
    {
        var axes = node.GetInts("axes");
        node.RemoveAttribute("axes");
        if (axes is null || axes.Count == 0) return new(node, version);
        node.TruncateInputs(1);
        node.AppendInput(context.Int64s(node.Graph!, axes));
        return new(node, version);
    }
}
