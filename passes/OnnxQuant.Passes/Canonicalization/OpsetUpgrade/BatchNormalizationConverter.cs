using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// BatchNormalization-7 → 9: the <c>spatial</c> attribute is gone; spatial=1 (the default, per-channel statistics) is
/// what opset 9 always does, spatial=0 (per-element statistics) has no equivalent and is refused.
/// BatchNormalization-9 → 14: before 14 a node declaring more than one output runs in training mode (statistics of
/// the batch, as ONNX Runtime does too); from 14 that is the training_mode attribute, with outputs Y, running_mean and
/// running_var. Such a node is rebuilt with training_mode=1 and its first three outputs; saved_mean/saved_var no
/// longer exist, so a node whose saved statistics are read is refused.
/// </summary>
internal sealed class BatchNormalizationConverter : OpConverter
{
    public override string OpType => "BatchNormalization";
    public override IReadOnlyList<int> Versions => [9, 14];

    public override OnnxQuantException? Refusal(Node node, int version, UpgradeContext context)
    {
        if (version == 9)
            return node.GetInt("spatial", 1) != 1
                ? context.Unsupported(node, version, "it uses spatial=0 (per-element statistics)",
                    "Re-export with spatial batch normalization.")
                : null;
        for (int i = 3; i < node.Outputs.Count; i++)
            if (node.Outputs[i] is { } saved && (saved.Uses.Count > 0 || saved.IsAnyGraphOutput))
                return context.Unsupported(node, version,
                    $"its training output {i} ('{saved.Name}', saved mean/variance) is used", "Export the model in inference mode.");
        return null;
    }

    protected override Converted Rewrite(Node node, int version, UpgradeContext context)
    {
        if (version == 9)
        {
            node.RemoveAttribute("spatial");
            return new(node, version);
        }

        if (node.Outputs.Count <= 1) return new(node, version);
        var training = context.InsertBefore(node, version, node.OpType, node.Inputs,
            [.. node.Attributes, Attribute.Int("training_mode", 1)], outputCount: Math.Min(3, node.Outputs.Count));
        training.Name = node.Name;
        UpgradeContext.Replace(node, training);
        return new(training, version);
    }
}
