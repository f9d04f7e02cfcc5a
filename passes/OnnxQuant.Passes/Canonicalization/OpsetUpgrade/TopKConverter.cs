using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>TopK-1 → TopK-10: the <c>k</c> attribute becomes a one-element int64 input.</summary>
internal sealed class TopKConverter : OpConverter
{
    public override string OpType => "TopK";
    public override IReadOnlyList<int> Versions => [10];

    public override OnnxQuantException? Refusal(Node node, int version, UpgradeContext context) =>
        node.GetAttribute("k") is null
            ? context.Unsupported(node, version, "it has no k attribute, which TopK-1 requires",
                "Fix the exporter's output: TopK-1 needs k.")
            : null;

    protected override Converted Rewrite(Node node, int version, UpgradeContext context)
    {
        long k = node.GetAttribute("k")!.AsInt();
        node.RemoveAttribute("k");
        node.TruncateInputs(1);
        node.AppendInput(context.Int64s(node.Graph!, [k], "topk_k"));
        return new(node, version);
    }
}
