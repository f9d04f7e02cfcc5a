using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// Ops that select or join parts of tensors: Concat, Split (split input or attribute, num_outputs), Slice (constant
/// starts/ends/axes/steps, negative indices, clamping), Gather/GatherElements/GatherND, the Scatter ops, Compress.
/// </summary>
internal static class IndexingRules
{
    public static void Register(RuleRegistration add)
    {
        add("", Concat, "Concat");
        add("", Split, "Split");
        add("", Slice, "Slice");
        add("", Gather, "Gather");
        add("", c => c.Set(0, c.ElementType(0), c.ShapeOf(1)), "GatherElements");
        add("", GatherND, "GatherND");
        add("", c => c.SameAsInput(0), "ScatterND", "ScatterElements", "Scatter");
        add("", Compress, "Compress");
    }

    private static void Concat(NodeShapeContext c)
    {
        var inputs = Enumerable.Range(0, c.InputCount).Where(c.Has).ToList();
        var type = inputs.Select(c.ElementType).FirstOrDefault(t => t is not null);
        var shapes = inputs.Select(c.ShapeOf).ToList();
        var known = shapes.FirstOrDefault(s => s is not null);
        if (known is null)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        int rank = known.Rank;
        if (shapes.Any(s => s is not null && s.Rank != rank) || NodeShapeContext.Axis(c.Int("axis", 0), rank) is not int axis)
            return;
        var dims = new Dim[rank];
        for (int d = 0; d < rank; d++)
        {
            if (d == axis)
            {
                dims[d] = shapes.Any(s => s is null) ? Dim.Unknown : shapes.Aggregate(Dim.Known(0), (sum, s) => DimMath.Add(sum, s![d]));
                continue;
            }
            // All inputs agree off the axis, so any known (or named) size is the size.
            dims[d] = shapes.Where(s => s is not null).Select(s => s![d]).Aggregate(DimMath.Unify);
        }
        c.Set(0, type, dims);
    }

    private static void Split(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        int outputs = c.OutputCount;
        var x = c.ShapeOf(0);
        if (x is null || NodeShapeContext.Axis(c.Int("axis", 0), x.Rank) is not int axis)
        {
            for (int i = 0; i < outputs; i++) c.Set(i, type, (Shape?)null);
            return;
        }
        IReadOnlyList<long>? split = c.Opset >= 13 ? (c.Has(1) ? c.Longs(1) : null) : c.Ints("split");
        bool splitGiven = c.Opset >= 13 ? c.Has(1) : split is not null;
        var sizes = new Dim[outputs];
        if (split is not null && split.Count == outputs)
        {
            for (int i = 0; i < outputs; i++) sizes[i] = Dim.Known(split[i]);
        }
        else if (!splitGiven && x[axis] is { IsKnown: true } whole)
        {
            long total = whole.Value!.Value;
            long n = c.Int("num_outputs", outputs);
            long chunk = c.Node.GetAttribute("num_outputs") is not null ? DimMath.CeilDiv(total, n) : total / outputs;
            for (int i = 0; i < outputs; i++)
                sizes[i] = Dim.Known(i < outputs - 1 ? chunk : total - chunk * (outputs - 1));
        }
        else
        {
            for (int i = 0; i < outputs; i++) sizes[i] = outputs == 1 && !splitGiven ? DimMath.Clean(x[axis]) : Dim.Unknown;
        }
        for (int i = 0; i < outputs; i++)
            c.Set(i, type, x.Dims.Select((d, k) => k == axis ? sizes[i] : DimMath.Clean(d)));
    }

    private static void Slice(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        if (c.ShapeOf(0) is not { } x)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        var dims = x.Dims.Select(DimMath.Clean).ToArray();
        var p = SliceParameters.Read(c.Node, c.Opset, c.Data);
        if (p is null)
        {
            // Without the bounds only the sliced axes are unknown (all of them when the axes are unknown too).
            long[]? axes = c.Opset >= 10 && c.Has(3) ? c.Longs(3) : c.Opset < 10 ? c.Ints("axes")?.ToArray() : null;
            for (int d = 0; d < dims.Length; d++)
                if (axes is null || axes.Any(a => NodeShapeContext.Axis(a, x.Rank) == d)) dims[d] = Dim.Unknown;
            c.Set(0, type, dims);
            return;
        }
        var ax = p.AxesOrDefault;
        for (int k = 0; k < ax.Length; k++)
        {
            if (NodeShapeContext.Axis(ax[k], x.Rank) is not int axis) return;
            dims[axis] = SliceParameters.OutputSize(p.Starts[k], p.Ends[k], p.Steps[k], x[axis]);
        }
        c.Set(0, type, dims);
    }

    private static void Gather(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        var data = c.ShapeOf(0);
        var indices = c.ShapeOf(1);
        if (data is null || indices is null || NodeShapeContext.Axis(c.Int("axis", 0), data.Rank) is not int axis)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        c.Set(0, type, data.Dims.Take(axis).Concat(indices.Dims).Concat(data.Dims.Skip(axis + 1)).Select(DimMath.Clean));
    }

    private static void GatherND(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        var data = c.ShapeOf(0);
        var indices = c.ShapeOf(1);
        long batch = c.Int("batch_dims", 0);
        if (data is null || indices is null || indices.Rank == 0 || indices[indices.Rank - 1].Value is not long m || batch + m > data.Rank)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        c.Set(0, type, indices.Dims.Take(indices.Rank - 1).Concat(data.Dims.Skip((int)(batch + m))).Select(DimMath.Clean));
    }

    /// <summary>Compress keeps the slices whose condition is true: known when the condition is a constant.</summary>
    private static void Compress(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        var x = c.ShapeOf(0);
        var condition = c.Longs(1);
        Dim kept = condition is null ? Dim.Unknown : Dim.Known(condition.Count(v => v != 0));
        if (c.Node.GetAttribute("axis") is null)
        {
            c.Set(0, type, [kept]);
            return;
        }
        if (x is null || NodeShapeContext.Axis(c.Int("axis", 0), x.Rank) is not int axis)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        c.Set(0, type, x.Dims.Select((d, k) => k == axis ? kept : DimMath.Clean(d)));
    }
}
