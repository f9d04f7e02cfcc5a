using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// Slice-1 → Slice-10: <c>starts</c>, <c>ends</c> and <c>axes</c> attributes become int64 inputs. Both versions clamp
/// out-of-range starts/ends to the dimension, so the values carry over unchanged; steps default to 1.
/// </summary>
internal sealed class SliceConverter : OpConverter
{
    public override string OpType => "Slice";
    public override IReadOnlyList<int> Versions => [10];

    public override OnnxQuantException? Refusal(Node node, int version, UpgradeContext context) =>
        node.GetInts("starts") is null || node.GetInts("ends") is null
            ? context.Unsupported(node, version, "it lacks the starts/ends attributes that Slice-1 requires",
                "Fix the exporter's output: Slice-1 needs both attributes.")
            : null;

    protected override Converted Rewrite(Node node, int version, UpgradeContext context)
    {
        var starts = node.GetInts("starts")!;
        var ends = node.GetInts("ends")!;
        var axes = node.GetInts("axes");
        var graph = node.Graph!;
        node.TruncateInputs(1);
        node.AppendInput(context.Int64s(graph, starts, "slice_starts"));
        node.AppendInput(context.Int64s(graph, ends, "slice_ends"));
        if (axes is not null) node.AppendInput(context.Int64s(graph, axes, "slice_axes"));
        node.RemoveAttribute("starts");
        node.RemoveAttribute("ends");
        node.RemoveAttribute("axes");
        return new(node, version);
    }
}
