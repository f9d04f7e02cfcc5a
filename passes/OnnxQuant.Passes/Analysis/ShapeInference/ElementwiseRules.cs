using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// Ops that broadcast their inputs numpy-style (Add, Mul, Equal, Where, Max, …). Before opset 7 the binary
/// arithmetic ops broadcast only B onto A (the <c>broadcast</c> attribute), so the output has A's shape.
/// </summary>
internal static class ElementwiseRules
{
    public static void Register(RuleRegistration add)
    {
        add("", Arithmetic, "Add", "Sub", "Mul", "Div", "Pow", "Mod", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor",
            "PRelu");
        add("", Variadic, "Max", "Min", "Sum", "Mean");
        add("", Comparison, "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor");
        add("", Where, "Where");
        add("com.microsoft", Arithmetic, "BiasGelu", "BiasAdd");
    }

    private static void Arithmetic(NodeShapeContext c)
    {
        var type = c.ElementType(0) ?? (c.Node.OpType == "Pow" ? null : c.ElementType(1));
        if (c.Opset < 7 && c.Node.IsDefaultDomain)
        {
            c.SameAsInput(0, 0, type);
            return;
        }
        c.Set(0, type, DimMath.Broadcast(InputShapes(c)));
    }

    private static void Variadic(NodeShapeContext c)
    {
        var type = Enumerable.Range(0, c.InputCount).Select(c.ElementType).FirstOrDefault(t => t is not null);
        c.Set(0, type, DimMath.Broadcast(InputShapes(c)));
    }

    private static void Comparison(NodeShapeContext c) => c.Set(0, DataType.Bool, DimMath.Broadcast(InputShapes(c)));

    private static void Where(NodeShapeContext c) =>
        c.Set(0, c.ElementType(1) ?? c.ElementType(2), DimMath.Broadcast(InputShapes(c)));

    private static IEnumerable<Shape?> InputShapes(NodeShapeContext c) =>
        Enumerable.Range(0, c.InputCount).Where(c.Has).Select(c.ShapeOf);
}
