using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// Normalizations: the output has the input's shape; LayerNormalization's optional Mean/InvStdDev keep the leading
/// dimensions and are 1 from <c>axis</c> on (element type from stash_type); BatchNormalization's training outputs
/// are per channel.
/// </summary>
internal static class NormalizationRules
{
    public static void Register(RuleRegistration add)
    {
        add("", LayerNorm, "LayerNormalization", "SimplifiedLayerNormalization", "RMSNormalization");
        add("com.microsoft", LayerNorm, "SimplifiedLayerNormalization");
        add("com.microsoft", SkipLayerNorm, "SkipLayerNormalization", "SkipSimplifiedLayerNormalization");
        add("", BatchNorm, "BatchNormalization");
        add("", c => c.SameAsInput(0), "InstanceNormalization", "GroupNormalization");
    }

    private static void LayerNorm(NodeShapeContext c)
    {
        c.SameAsInput(0);
        if (c.OutputCount == 1) return;
        var stash = (DataType)c.Int("stash_type", (long)DataType.Float);
        var x = c.ShapeOf(0);
        Shape? stats = null;
        if (x is not null && NodeShapeContext.Axis(c.Int("axis", -1), x.Rank) is int axis)
            stats = new Shape(x.Dims.Select((d, i) => i >= axis ? Dim.Known(1) : DimMath.Clean(d)));
        for (int i = 1; i < c.OutputCount; i++) c.Set(i, stash, stats);
    }

    private static void SkipLayerNorm(NodeShapeContext c)
    {
        c.SameAsInput(0);
        var x = c.ShapeOf(0);
        var stats = x is { Rank: > 0 } ? new Shape(x.Dims.Take(x.Rank - 1).Select(DimMath.Clean).Append(Dim.Known(1))) : null;
        if (c.OutputCount > 1) c.Set(1, DataType.Float, stats);
        if (c.OutputCount > 2) c.Set(2, DataType.Float, stats);
        if (c.OutputCount > 3) c.SameAsInput(3);
    }

    private static void BatchNorm(NodeShapeContext c)
    {
        c.SameAsInput(0);
        for (int i = 1; i < c.OutputCount; i++)
        {
            // Running (and, before opset 14, saved) statistics: one value per channel, typed like the mean input.
            int like = i <= 2 ? i + 2 : 3;
            var channel = c.ShapeOf(1) is { Rank: 1 } scale ? scale[0] : c.ShapeOf(0) is { Rank: >= 2 } x ? x[1] : Dim.Unknown;
            c.Set(i, c.ElementType(like) ?? c.ElementType(0), [DimMath.Clean(channel)]);
        }
    }
}
