using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// GroupNormalization-18 → 21: scale and bias were per group ([G]) and are per channel ([C]) from 21; each group's
/// value is repeated C/G times (Reshape [-1,1] → Expand [1, C/G] → Reshape [-1], with C read from the input's shape
/// at run time). Opset 21 also computes the statistics in <c>stash_type</c> (default float); opset 18 computed them in
/// the input type, which is written out.
/// </summary>
internal sealed class GroupNormalizationConverter : OpConverter
{
    public override string OpType => "GroupNormalization";
    public override IReadOnlyList<int> Versions => [21];

    public override OnnxQuantException? Refusal(Node node, int version, UpgradeContext context)
    {
        if (context.Facts.ElementType(node.Input(0)) is null)
            return context.Unsupported(node, version, "its input's element type (the old computation type) is unknown",
                "Give the input a type (value_info).");
        return node.GetAttribute("num_groups") is null
            ? context.Unsupported(node, version, "it has no num_groups attribute",
                "Fix the exporter's output: GroupNormalization needs num_groups.")
            : null;
    }

    protected override Converted Rewrite(Node node, int version, UpgradeContext context)
    {
        var x = node.Inputs[0]!;
        var type = context.Facts.ElementType(x)!.Value;
        long groups = node.GetAttribute("num_groups")!.AsInt();
        var graph = node.Graph!;
        var channels = context.InsertBefore(node, version, "Shape", [x],
            [Attribute.Int("start", 1), Attribute.Int("end", 2)], nameSuffix: "channels");
        var perGroup = context.InsertBefore(node, version, "Div", [channels.Output, context.Int64s(graph, [groups], "groups")]);
        var expandShape = context.InsertBefore(node, version, "Concat", [context.Int64s(graph, [1], "one"), perGroup.Output],
            [Attribute.Int("axis", 0)]);
        for (int input = 1; input <= 2; input++)
        {
            var column = context.InsertBefore(node, version, "Reshape", [node.Inputs[input], context.Int64s(graph, [-1, 1], "column")]);
            var repeated = context.InsertBefore(node, version, "Expand", [column.Output, expandShape.Output]);
            var flat = context.InsertBefore(node, version, "Reshape", [repeated.Output, context.Int64s(graph, [-1], "flat")]);
            node.ReplaceInput(input, flat.Output);
        }
        node.SetAttribute(Attribute.Int("stash_type", (long)type));
        return new(node, version);
    }
}
