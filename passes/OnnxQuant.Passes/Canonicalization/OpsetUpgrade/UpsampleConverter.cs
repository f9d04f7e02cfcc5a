using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// Upsample-7 → 9: the <c>scales</c> attribute becomes a float input. Upsample-9 → 10 (deprecated): the node becomes
/// a Resize with the same inputs and mode. Upsample only enlarges (ONNX Runtime refuses scales below 1), so when the
/// target reaches opset 11 the Resize is written directly in its opset-11 form with the mapping Upsample always used:
/// asymmetric coordinates and, for nearest, rounding down.
/// </summary>
internal sealed class UpsampleConverter : OpConverter
{
    public override string OpType => "Upsample";
    public override IReadOnlyList<int> Versions => [9, 10];

    public override OnnxQuantException? Refusal(Node node, int version, UpgradeContext context)
    {
        if (version == 9 && node.GetAttribute("scales") is null)
            return context.Unsupported(node, version, "it has no scales attribute, which Upsample-7 requires",
                "Fix the exporter's output: Upsample-7 needs scales.");
        string mode = node.GetString("mode", "nearest");
        return version == 10 && mode is not ("nearest" or "linear" or "bilinear")
            ? context.Unsupported(node, version, $"its mode '{mode}' has no Resize equivalent", "Use mode 'nearest' or 'linear'.")
            : null;
    }

    protected override Converted Rewrite(Node node, int version, UpgradeContext context)
    {
        if (version == 9)
        {
            var scales = node.GetAttribute("scales")!.AsFloats();
            node.RemoveAttribute("scales");
            node.TruncateInputs(1);
            node.AppendInput(context.Constant(node.Graph!, Tensor.FromFloats(scales.ToArray(), scales.Count), "scales"));
            return new(node, version);
        }

        string mode = node.GetString("mode", "nearest");
        node.OpType = "Resize";
        node.SetAttribute(Attribute.String("mode", mode == "bilinear" ? "linear" : mode));
        if (context.TargetOpset < 11) return new(node, 10);
        ResizeConverter.ToOpset11(node, nearestMode: "floor", context);
        return new(node, 11);
    }
}
