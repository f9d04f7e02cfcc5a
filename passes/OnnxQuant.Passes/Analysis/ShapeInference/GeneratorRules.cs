using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// Ops whose output shape comes from attributes or from the contents of an input: Shape, Size, Constant,
/// ConstantOfShape, Range, OneHot, window functions, the random generators, and the data-dependent NonZero /
/// NonMaxSuppression / Unique.
/// </summary>
internal static class GeneratorRules
{
    public static void Register(RuleRegistration add)
    {
        add("", ShapeOp, "Shape");
        add("", c => c.Set(0, DataType.Int64, new Shape(Array.Empty<Dim>())), "Size");
        add("", Constant, "Constant");
        add("", ConstantOfShape, "ConstantOfShape");
        add("", Range, "Range");
        add("", OneHot, "OneHot");
        add("", RandomFromShape, "RandomNormal", "RandomUniform");
        add("", Multinomial, "Multinomial");
        add("", NonZero, "NonZero");
        add("", c => c.Set(0, DataType.Int64, [Dim.Unknown, Dim.Known(3)]), "NonMaxSuppression");
        add("", Unique, "Unique");
        add("", Window, "HannWindow", "HammingWindow", "BlackmanWindow");
    }

    private static void ShapeOp(NodeShapeContext c)
    {
        if (c.RankOf(0) is not int rank)
        {
            c.Set(0, DataType.Int64, [Dim.Unknown]);
            return;
        }
        var (start, end) = DataPropagation.ShapeRange(c.Node, rank, c.Opset);
        c.Set(0, DataType.Int64, [Dim.Known(Math.Max(0, end - start))]);
    }

    private static void Constant(NodeShapeContext c)
    {
        if (ConstantNode.TryGetTensor(c.Node) is { } t) c.Set(0, t.ElementType, new Shape(t.Dims.ToArray()));
    }

    private static void ConstantOfShape(NodeShapeContext c)
    {
        var type = c.Node.GetAttribute("value")?.AsTensor().ElementType ?? DataType.Float;
        if (c.Data(0) is { Rank: 1 } shape) c.Set(0, type, shape.Elements);
        else if (c.ShapeOf(0) is { Rank: 1 } s && s[0].Value is long n) c.Set(0, type, Enumerable.Repeat(Dim.Unknown, (int)n));
        else c.Set(0, type, (Shape?)null);
    }

    private static void Range(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        Dim length = Dim.Unknown;
        if (c.Data(0) is { } s && c.Data(1) is { } l && c.Data(2) is { } d
            && s.Elements.Length == 1 && l.Elements.Length == 1 && d.Elements.Length == 1)
        {
            Dim start = s.Elements[0], limit = l.Elements[0], delta = d.Elements[0];
            if (start.IsKnown && limit.IsKnown && delta.Value is long dv and not 0)
                length = Dim.Known(Math.Max(0, DimMath.CeilDiv(limit.Value!.Value - start.Value!.Value, dv)));
            else if (start.Value == 0 && delta.Value == 1) length = DimMath.Clean(limit);
        }
        else if (c.Doubles(0) is [double fs] && c.Doubles(1) is [double fl] && c.Doubles(2) is [double fd] && fd != 0)
        {
            length = Dim.Known((long)Math.Max(0, Math.Ceiling((fl - fs) / fd)));
        }
        c.Set(0, type, [length]);
    }

    private static void OneHot(NodeShapeContext c)
    {
        var type = c.ElementType(2);
        if (c.ShapeOf(0) is not { } indices)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        int rank = indices.Rank + 1;
        if (NodeShapeContext.Axis(c.Int("axis", -1), rank) is not int axis) return;
        Dim depth = c.Doubles(1) is [double dd] ? Dim.Known((long)dd) : Dim.Unknown;
        var dims = indices.Dims.Select(DimMath.Clean).ToList();
        dims.Insert(axis, depth);
        c.Set(0, type, dims);
    }

    private static void RandomFromShape(NodeShapeContext c)
    {
        var type = (DataType)c.Int("dtype", (long)DataType.Float);
        c.Set(0, type, c.Ints("shape") is { } s ? new Shape(s.ToArray()) : null);
    }

    private static void Multinomial(NodeShapeContext c)
    {
        var type = (DataType)c.Int("dtype", (long)DataType.Int32);
        Dim batch = c.ShapeOf(0) is { Rank: 2 } x ? DimMath.Clean(x[0]) : Dim.Unknown;
        c.Set(0, type, [batch, Dim.Known(c.Int("sample_size", 1))]);
    }

    private static void NonZero(NodeShapeContext c) =>
        c.Set(0, DataType.Int64, [c.RankOf(0) is int r ? Dim.Known(r) : Dim.Unknown, Dim.Unknown]);

    private static void Window(NodeShapeContext c) =>
        c.Set(0, (DataType)c.Int("output_datatype", (long)DataType.Float), [c.Data(0) is { Elements: [var size] } ? DimMath.Clean(size) : Dim.Unknown]);

    private static void Unique(NodeShapeContext c)
    {
        var x = c.ShapeOf(0);
        if (c.Node.GetAttribute("axis") is null || x is null) c.Set(0, c.ElementType(0), x is null && c.Node.GetAttribute("axis") is not null ? null : new Shape([Dim.Unknown]));
        else if (NodeShapeContext.Axis(c.Int("axis", 0), x.Rank) is int axis)
            c.Set(0, c.ElementType(0), x.Dims.Select((d, k) => k == axis ? Dim.Unknown : DimMath.Clean(d)));
        for (int i = 1; i < c.OutputCount; i++) c.Set(i, DataType.Int64, [Dim.Unknown]);
    }
}
