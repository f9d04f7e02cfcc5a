using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// ConvTranspose-1 → 11: explicit pads, output_padding and output_shape keep their meaning; the SAME_UPPER/SAME_LOWER
/// auto_pad rules were rewritten at opset 11 (which side gets the odd padding), so nodes using them are refused rather
/// than risk a shifted output.
/// </summary>
internal sealed class ConvTransposeConverter : OpConverter
{
    public override string OpType => "ConvTranspose";
    public override IReadOnlyList<int> Versions => [11];

    public override OnnxQuantException? Refusal(Node node, int version, UpgradeContext context) =>
        node.GetString("auto_pad", "NOTSET") is "SAME_UPPER" or "SAME_LOWER"
            ? context.Unsupported(node, version, $"it uses auto_pad={node.GetString("auto_pad", "")}",
                "Re-export with explicit pads.")
            : null;

    protected override Converted Rewrite(Node node, int version, UpgradeContext context) => new(node, version);
}
