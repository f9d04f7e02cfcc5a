using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// Makes scalars of a value's element type (for attributes that became inputs typed like the data: Clip's bounds,
/// Pad's constant value). When the type cannot be told and the target opset has CastLike (15), the scalar is a float
/// cast like the value at run time; otherwise the conversion is refused.
/// </summary>
internal static class ScalarOfInputType
{
    public static OnnxQuantException? Refusal(Node node, Value? like, int version, UpgradeContext context, string reason) =>
        context.Facts.ElementType(like) is not null || (context.TargetOpset >= 15 && like is not null)
            ? null
            : context.Unsupported(node, version, reason,
                "Give the input a type (value_info) or choose a target opset of 15 or more (CastLike).");

    /// <summary>A factory of scalars typed like <paramref name="like"/>; call only when <see cref="Refusal"/> is null.</summary>
    public static Func<double, string, Value> For(Node node, Value? like, UpgradeContext context)
    {
        var graph = node.Graph!;
        if (context.Facts.ElementType(like) is { } type)
            return (value, hint) => context.Constant(graph,
                TensorConversions.FromDoubles(type, [value], [], saturate: false), hint);
        return (value, hint) =>
        {
            var asFloat = context.Constant(graph, Tensor.FromFloats([(float)value]), hint);
            return context.InsertBefore(node, 15, "CastLike", [asFloat, like], nameSuffix: hint).Output;
        };
    }
}
