using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// Ops that rearrange dimensions: Reshape (0 copies, -1 infers, allowzero from opset 14), Flatten, Squeeze and
/// Unsqueeze (axes attribute before opset 13, input after), Transpose, Expand, Tile, DepthToSpace, SpaceToDepth.
/// Target shapes may be partly symbolic (computed from other values' shapes).
/// </summary>
internal static class ReshapeRules
{
    public static void Register(RuleRegistration add)
    {
        add("", Reshape, "Reshape");
        add("", Flatten, "Flatten");
        add("", Squeeze, "Squeeze");
        add("", Unsqueeze, "Unsqueeze");
        add("", Transpose, "Transpose");
        add("", Expand, "Expand");
        add("", Tile, "Tile");
        add("", DepthToSpace, "DepthToSpace");
        add("", SpaceToDepth, "SpaceToDepth");
    }

    private static void Reshape(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        Dim[]? target = c.Opset < 5
            ? c.Ints("shape")?.Select(Dim.Known).ToArray()
            : c.Data(1) is { Rank: 1 } t ? t.Elements : null;
        if (target is null)
        {
            c.Set(0, type, c.ShapeOf(1) is { Rank: 1 } s && s[0].Value is long n ? new Shape(Enumerable.Repeat(Dim.Unknown, (int)n)) : null);
            return;
        }
        c.Set(0, type, ReshapeShape(c.ShapeOf(0), target, allowZero: c.Opset >= 14 && c.Int("allowzero", 0) != 0));
    }

    public static Shape ReshapeShape(Shape? input, IReadOnlyList<Dim> target, bool allowZero)
    {
        var dims = new Dim[target.Count];
        int inferred = -1;
        for (int i = 0; i < target.Count; i++)
        {
            var t = target[i];
            if (t.Value == 0 && !allowZero) dims[i] = input is not null && i < input.Rank ? DimMath.Clean(input[i]) : Dim.Unknown;
            else if (t.Value == -1) inferred = i;
            else dims[i] = t.Value < -1 ? Dim.Unknown : DimMath.Clean(t);
        }
        if (inferred >= 0)
        {
            dims[inferred] = input is null
                ? Dim.Unknown
                : DimMath.DivExact(DimMath.Product(input.Dims), DimMath.Product(dims.Where((_, i) => i != inferred)));
        }
        return new Shape(dims);
    }

    private static void Flatten(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        if (c.ShapeOf(0) is not { } x)
        {
            c.Set(0, type, [Dim.Unknown, Dim.Unknown]);
            return;
        }
        long axis = c.Int("axis", 1);
        if (axis < 0) axis += x.Rank;
        if (axis < 0 || axis > x.Rank) return;
        c.Set(0, type, [DimMath.Product(x.Dims.Take((int)axis)), DimMath.Product(x.Dims.Skip((int)axis))]);
    }

    /// <summary>Squeeze/Unsqueeze axes: the attribute before opset 13, the (optional) second input from 13.</summary>
    private static long[]? Axes(NodeShapeContext c, out bool given)
    {
        if (c.Opset < 13)
        {
            var a = c.Ints("axes");
            given = a is not null;
            return a?.ToArray();
        }
        given = c.Has(1);
        return given ? c.Longs(1) : null;
    }

    private static void Squeeze(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        var x = c.ShapeOf(0);
        var axes = Axes(c, out bool given);
        if (x is null || (given && axes is null))
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        if (!given)
        {
            // Without axes every size-1 dimension goes: the rank is only known when every size is.
            c.Set(0, type, x.Dims.All(d => d.IsKnown) ? new Shape(x.Dims.Where(d => d.Value != 1).Select(DimMath.Clean)) : null);
            return;
        }
        var drop = new HashSet<int>();
        foreach (long a in axes!)
        {
            if (NodeShapeContext.Axis(a, x.Rank) is not int axis) return;
            drop.Add(axis);
        }
        c.Set(0, type, x.Dims.Where((_, i) => !drop.Contains(i)).Select(DimMath.Clean));
    }

    private static void Unsqueeze(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        var x = c.ShapeOf(0);
        var axes = Axes(c, out _);
        if (x is null || axes is null)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        int rank = x.Rank + axes.Length;
        var inserted = new HashSet<int>();
        foreach (long a in axes)
        {
            if (NodeShapeContext.Axis(a, rank) is not int axis || !inserted.Add(axis)) return;
        }
        var dims = new List<Dim>();
        int next = 0;
        for (int i = 0; i < rank; i++) dims.Add(inserted.Contains(i) ? Dim.Known(1) : DimMath.Clean(x[next++]));
        c.Set(0, type, dims);
    }

    private static void Transpose(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        if (c.ShapeOf(0) is not { } x)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        var perm = c.Ints("perm") ?? Enumerable.Range(0, x.Rank).Reverse().Select(i => (long)i).ToArray();
        if (perm.Count != x.Rank || perm.Any(p => p < 0 || p >= x.Rank)) return;
        c.Set(0, type, perm.Select(p => DimMath.Clean(x[(int)p])));
    }

    private static void Expand(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        var x = c.ShapeOf(0);
        if (c.Data(1) is { Rank: 1 } target)
        {
            c.Set(0, type, DimMath.Broadcast([x, new Shape(target.Elements)]));
            return;
        }
        if (x is not null && c.ShapeOf(1) is { Rank: 1 } s && s[0].Value is long n)
        {
            int rank = (int)Math.Max(n, x.Rank);
            // Without the target's values each dimension is the input's where it is not 1 (broadcasting keeps it).
            c.Set(0, type, Enumerable.Range(0, rank).Select(i =>
            {
                int k = i - (rank - x.Rank);
                return k >= 0 && x[k].IsKnown && x[k].Value != 1 ? x[k] : Dim.Unknown;
            }));
            return;
        }
        c.Set(0, type, (Shape?)null);
    }

    private static void Tile(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        var x = c.ShapeOf(0);
        if (x is null)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        if (c.Data(1) is { Rank: 1 } repeats && repeats.Elements.Length == x.Rank)
            c.Set(0, type, x.Dims.Zip(repeats.Elements, DimMath.Mul));
        else
            c.Set(0, type, Enumerable.Repeat(Dim.Unknown, x.Rank));
    }

    private static void DepthToSpace(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        long b = c.Int("blocksize", 1);
        if (c.ShapeOf(0) is not { Rank: 4 } x)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        var bb = Dim.Known(b);
        c.Set(0, type, [DimMath.Clean(x[0]), DimMath.DivExact(x[1], Dim.Known(b * b)), DimMath.Mul(x[2], bb), DimMath.Mul(x[3], bb)]);
    }

    private static void SpaceToDepth(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        long b = c.Int("blocksize", 1);
        if (c.ShapeOf(0) is not { Rank: 4 } x)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        var bb = Dim.Known(b);
        c.Set(0, type, [DimMath.Clean(x[0]), DimMath.Mul(x[1], Dim.Known(b * b)), DimMath.DivExact(x[2], bb), DimMath.DivExact(x[3], bb)]);
    }
}
