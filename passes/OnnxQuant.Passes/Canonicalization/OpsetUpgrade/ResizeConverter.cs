using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// Resize-10 → 11: an <c>roi</c> input is inserted before <c>scales</c> (an empty tensor: it only matters for
/// tf_crop_and_resize), and the fixed mapping of Resize-10 is written out: coordinate_transformation_mode
/// "asymmetric" and, for nearest, the rounding ONNX Runtime applies to opset-10 models — per axis, truncation
/// (= "floor") when enlarging and "ceil" when shrinking. One nearest_mode cannot express both, so scales that mix
/// enlarging and shrinking axes, or scales only known at run time, are refused.
/// Resize-11/12 → 13: 'tf_half_pixel_for_nn' no longer exists (refused); the empty placeholder tensors that opset 11
/// required for unused roi/scales become omitted inputs.
/// </summary>
internal sealed class ResizeConverter : OpConverter
{
    public override string OpType => "Resize";
    public override IReadOnlyList<int> Versions => [11, 13];

    public override OnnxQuantException? Refusal(Node node, int version, UpgradeContext context)
    {
        if (version == 13)
            return node.GetString("coordinate_transformation_mode", "half_pixel") == "tf_half_pixel_for_nn"
                ? context.Unsupported(node, version, "it uses coordinate_transformation_mode 'tf_half_pixel_for_nn'",
                    "Re-export with 'half_pixel' or 'asymmetric' coordinates.")
                : null;
        if (node.GetString("mode", "nearest") != "nearest") return null;
        if (ScalesOf(node) is not { } values)
            return context.Unsupported(node, version,
                "its scales are computed at run time while its nearest rounding depends on whether each axis " +
                "grows or shrinks", "Fold constants first so that the scales are known.");
        return values.Any(v => v > 1) && values.Any(v => v < 1)
            ? context.Unsupported(node, version,
                $"its scales [{string.Join(", ", values)}] both enlarge and shrink, which needs two roundings",
                "Split the resize into an enlarging and a shrinking one.")
            : null;
    }

    protected override Converted Rewrite(Node node, int version, UpgradeContext context)
    {
        if (version == 11)
        {
            string? nearestMode = null;
            if (node.GetString("mode", "nearest") == "nearest")
                nearestMode = ScalesOf(node)!.Any(v => v < 1) ? "ceil" : "floor";
            ToOpset11(node, nearestMode, context);
            return new(node, version);
        }

        bool cropAndResize = node.GetString("coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize";
        if (!cropAndResize && IsEmptyConstant(node.Input(1))) node.ReplaceInput(1, null);
        if (node.Input(3) is not null && IsEmptyConstant(node.Input(2))) node.ReplaceInput(2, null);
        return new(node, version);
    }

    /// <summary>Rewrites a Resize-10 node (inputs X, scales) in the opset-11 form with Resize-10's mapping.</summary>
    public static void ToOpset11(Node node, string? nearestMode, UpgradeContext context)
    {
        var scales = node.Inputs[1];
        var roi = context.Constant(node.Graph!, Tensor.FromFloats([], 0), "roi");
        node.TruncateInputs(1);
        node.AppendInput(roi);
        node.AppendInput(scales);
        node.SetAttribute(Attribute.String("coordinate_transformation_mode", "asymmetric"));
        if (nearestMode is not null) node.SetAttribute(Attribute.String("nearest_mode", nearestMode));
    }

    private static double[]? ScalesOf(Node node) =>
        node.Input(1) is { } s && ConstantNode.ConstantOf(s) is { } t ? t.ToDoubleArray() : null;

    private static bool IsEmptyConstant(Value? value) =>
        value is not null && ConstantNode.ConstantOf(value) is { ElementCount: 0 };
}
