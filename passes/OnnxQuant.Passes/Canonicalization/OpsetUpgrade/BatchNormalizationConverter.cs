using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// BatchNormalization-7 → 9: the <c>spatial</c> attribute is gone; spatial=1 (the default, per-channel statistics) is
/// what opset 9 always does, spatial=0 (per-element statistics) has no equivalent and is refused.
/// BatchNormalization-9 → 14: the optional training outputs (running mean/var, saved mean/var) are gone from
/// inference mode; a node that declares them but whose extra outputs nobody reads is rebuilt with one output, one
/// whose training outputs are used is refused.
/// </summary>
internal sealed class BatchNormalizationConverter : OpConverter
{
    public override string OpType => "BatchNormalization";
    public override IReadOnlyList<int> Versions => [9, 14];

    public override Converted Convert(Node node, int version, UpgradeContext context)
    {
        if (version == 9)
        {
            if (node.GetInt("spatial", 1) != 1)
                throw context.Unsupported(node, version, "it uses spatial=0 (per-element statistics)",
                    "Re-export with spatial batch normalization.");
            node.RemoveAttribute("spatial");
            return new(node, version);
        }

        if (node.Outputs.Count <= 1) return new(node, version);
        for (int i = 1; i < node.Outputs.Count; i++)
            if (node.Outputs[i] is { } extra && (extra.Uses.Count > 0 || extra.IsAnyGraphOutput))
                throw context.Unsupported(node, version, $"its training output {i} ('{extra.Name}') is used",
                    "Export the model in inference mode.");
        var single = context.InsertBefore(node, version, node.OpType, node.Inputs, node.Attributes);
        single.Name = node.Name;
        UpgradeContext.Replace(node, single);
        return new(single, version);
    }
}
