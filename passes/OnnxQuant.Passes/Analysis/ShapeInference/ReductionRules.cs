using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// Reductions: Reduce* (axes attribute, or input from opset 13 for ReduceSum and 18 for the others; keepdims;
/// noop_with_empty_axes), ArgMax/ArgMin, TopK (k attribute before opset 10, input after).
/// </summary>
internal static class ReductionRules
{
    public static void Register(RuleRegistration add)
    {
        add("", Reduce, "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
            "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare");
        add("", ArgReduce, "ArgMax", "ArgMin");
        add("", TopK, "TopK");
    }

    private static void Reduce(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        var x = c.ShapeOf(0);
        bool keep = c.Int("keepdims", 1) != 0;
        bool axesAsInput = c.Opset >= 18 || (c.Node.OpType == "ReduceSum" && c.Opset >= 13);
        long[]? axes;
        if (axesAsInput)
        {
            axes = c.Has(1) ? c.Longs(1) : [];
            if (axes is null)
            {
                // The axes are computed at run time: with keepdims the rank survives.
                c.Set(0, type, keep && x is not null ? new Shape(Enumerable.Repeat(Dim.Unknown, x.Rank)) : null);
                return;
            }
        }
        else axes = c.Ints("axes")?.ToArray() ?? [];
        if (x is null)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        if (axes.Length == 0 && axesAsInput && c.Int("noop_with_empty_axes", 0) != 0)
        {
            c.SameAsInput(0);
            return;
        }
        var reduced = new HashSet<int>();
        if (axes.Length == 0) reduced.UnionWith(Enumerable.Range(0, x.Rank));
        foreach (long a in axes)
        {
            if (NodeShapeContext.Axis(a, x.Rank) is not int axis) return;
            reduced.Add(axis);
        }
        c.Set(0, type, ReducedShape(x, reduced, keep));
    }

    private static IEnumerable<Dim> ReducedShape(Shape x, HashSet<int> reduced, bool keep) =>
        x.Dims.Select((d, i) => (d, i)).Where(p => keep || !reduced.Contains(p.i))
            .Select(p => reduced.Contains(p.i) ? Dim.Known(1) : DimMath.Clean(p.d));

    private static void ArgReduce(NodeShapeContext c)
    {
        if (c.ShapeOf(0) is not { } x || NodeShapeContext.Axis(c.Int("axis", 0), x.Rank) is not int axis)
        {
            c.Set(0, DataType.Int64, (Shape?)null);
            return;
        }
        c.Set(0, DataType.Int64, ReducedShape(x, [axis], c.Int("keepdims", 1) != 0));
    }

    private static void TopK(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        if (c.ShapeOf(0) is not { } x || NodeShapeContext.Axis(c.Int("axis", -1), x.Rank) is not int axis)
        {
            c.Set(0, type, (Shape?)null);
            c.Set(1, DataType.Int64, (Shape?)null);
            return;
        }
        Dim k = c.Opset < 10 ? Dim.Known(c.Int("k", 0)) : c.Data(1) is { Elements: [var kd] } ? kd : Dim.Unknown;
        var dims = x.Dims.Select((d, i) => i == axis ? DimMath.Clean(k) : DimMath.Clean(d)).ToList();
        c.Set(0, type, dims);
        c.Set(1, DataType.Int64, dims);
    }
}
