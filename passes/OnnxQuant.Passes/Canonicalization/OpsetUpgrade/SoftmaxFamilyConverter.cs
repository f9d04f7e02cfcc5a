using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// Softmax/LogSoftmax/Hardmax before opset 13 coerce the input to 2-D at <c>axis</c> (default 1) and normalize each
/// row of that matrix, i.e. over all axes from <c>axis</c> on; from 13 they normalize along the single axis
/// <c>axis</c> (default -1). When the axis is the last one (rank known) both agree and the axis is just written out
/// (the default changed). Otherwise the old behaviour is spelled out: Flatten(axis) → op(axis=-1) → Reshape to the
/// input's shape.
/// </summary>
internal sealed class SoftmaxFamilyConverter : OpConverter
{
    public SoftmaxFamilyConverter(string opType) => OpType = opType;

    public override string OpType { get; }
    public override IReadOnlyList<int> Versions => [13];

    protected override Converted Rewrite(Node node, int version, UpgradeContext context)
    {
        long axis = node.GetInt("axis", 1);
        var x = node.Inputs[0]!;
        int? rank = context.Facts.Rank(x);
        if (rank is int r && (axis < 0 ? axis + r : axis) == r - 1)
        {
            node.SetAttribute(Attribute.Int("axis", axis));
            return new(node, version);
        }

        var flatten = context.InsertBefore(node, version, "Flatten", [x], [Attribute.Int("axis", axis)]);
        var shape = context.InsertBefore(node, version, "Shape", [x]);
        var op = context.InsertBefore(node, version, node.OpType, [flatten.Output], [Attribute.Int("axis", -1)]);
        op.Name = node.Name;
        var reshape = context.InsertBefore(node, version, "Reshape", [op.Output, shape.Output]);
        context.Facts.Record(op.Output, context.Facts.ElementType(x), 2);
        context.Facts.Record(reshape.Output, context.Facts.ElementType(x), rank);
        UpgradeContext.Replace(node, reshape);
        return new(op, version);
    }
}
