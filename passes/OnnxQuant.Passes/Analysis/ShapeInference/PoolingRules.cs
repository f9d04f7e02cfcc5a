using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>Pooling: MaxPool (with its Indices output), AveragePool, LpPool (ceil_mode), the global pools, MaxUnpool.</summary>
internal static class PoolingRules
{
    public static void Register(RuleRegistration add)
    {
        add("", Pool, "MaxPool", "AveragePool", "LpPool");
        add("", GlobalPool, "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool");
        add("", MaxUnpool, "MaxUnpool");
    }

    private static void Pool(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        if (c.ShapeOf(0) is not { Rank: >= 2 } x)
        {
            c.Set(0, type, (Shape?)null);
            if (c.OutputCount > 1) c.Set(1, DataType.Int64, (Shape?)null);
            return;
        }
        int spatial = x.Rank - 2;
        var window = Window.Read(c, spatial);
        bool ceil = c.Int("ceil_mode", 0) != 0;
        var dims = new List<Dim> { DimMath.Clean(x[0]), DimMath.Clean(x[1]) };
        for (int i = 0; i < spatial; i++) dims.Add(window.OutputSize(i, x[i + 2], ceil));
        c.Set(0, type, dims);
        if (c.OutputCount > 1) c.Set(1, DataType.Int64, dims);
    }

    /// <summary>MaxUnpool: the output_shape input when given, else the inverse of MaxPool's size formula.</summary>
    private static void MaxUnpool(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        if (c.Has(2))
        {
            c.Set(0, type, c.Data(2) is { Rank: 1 } given ? new Shape(given.Elements) : null);
            return;
        }
        if (c.ShapeOf(0) is not { Rank: >= 2 } x)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        int spatial = x.Rank - 2;
        var window = Window.Read(c, spatial);
        var dims = new List<Dim> { DimMath.Clean(x[0]), DimMath.Clean(x[1]) };
        for (int i = 0; i < spatial; i++)
        {
            var d = x[i + 2];
            dims.Add(d.IsKnown && window.Kernel[i] is long k
                ? Dim.Known((d.Value!.Value - 1) * window.Strides[i] + k - window.Pads[i] - window.Pads[i + spatial])
                : Dim.Unknown);
        }
        c.Set(0, type, dims);
    }

    private static void GlobalPool(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        if (c.ShapeOf(0) is not { Rank: >= 2 } x)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        c.Set(0, type, x.Dims.Take(2).Select(DimMath.Clean).Concat(Enumerable.Repeat(Dim.Known(1), x.Rank - 2)));
    }
}
