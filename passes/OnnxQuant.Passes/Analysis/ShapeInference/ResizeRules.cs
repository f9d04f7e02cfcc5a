using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// Ops that change spatial sizes by a factor or a padding: Resize (scales or sizes, axes
/// and keep_aspect_ratio_policy from opset 18), Upsample, Pad (attribute before opset 11, input after, axes from 18),
/// GridSample, RoiAlign and CenterCropPad.
/// </summary>
internal static class ResizeRules
{
    public static void Register(RuleRegistration add)
    {
        add("", Resize, "Resize");
        add("", Upsample, "Upsample");
        add("", Pad, "Pad");
        add("", GridSample, "GridSample");
        add("", RoiAlign, "RoiAlign");
        add("", CenterCropPad, "CenterCropPad");
    }

    private static void Resize(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        if (c.ShapeOf(0) is not { } x)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        int scalesIndex = c.Opset < 11 ? 1 : 2;
        int[] axes = Axes(c, x.Rank);
        var dims = x.Dims.Select(DimMath.Clean).ToArray();
        if (c.Opset >= 11 && c.Has(3) && c.ShapeOf(3) is not { Rank: 1, Dims: [{ Value: 0 }] })
        {
            if (c.Data(3) is not { Rank: 1 } sizes || sizes.Elements.Length != axes.Length)
            {
                foreach (int a in axes) dims[a] = Dim.Unknown;
                c.Set(0, type, dims);
                return;
            }
            string policy = c.Opset >= 18 ? c.String("keep_aspect_ratio_policy", "stretch") : "stretch";
            if (policy == "stretch")
            {
                for (int i = 0; i < axes.Length; i++) dims[axes[i]] = sizes.Elements[i];
            }
            else
            {
                // One scale for all the axes, chosen so the result fits inside (not_larger) or covers the sizes.
                bool known = sizes.IsFullyKnown && axes.All(a => x[a].IsKnown);
                double scale = policy == "not_larger" ? double.MaxValue : double.MinValue;
                for (int i = 0; known && i < axes.Length; i++)
                {
                    double s = (double)sizes.Elements[i].Value!.Value / x[axes[i]].Value!.Value;
                    scale = policy == "not_larger" ? Math.Min(scale, s) : Math.Max(scale, s);
                }
                foreach (int a in axes)
                    dims[a] = known ? Dim.Known((long)Math.Round(scale * x[a].Value!.Value, MidpointRounding.AwayFromZero)) : Dim.Unknown;
            }
            c.Set(0, type, dims);
            return;
        }
        var scales = c.Has(scalesIndex) ? c.Doubles(scalesIndex) : null;
        if (scales is null || scales.Length != axes.Length)
        {
            foreach (int a in axes) dims[a] = Dim.Unknown;
            c.Set(0, type, dims);
            return;
        }
        // The spec scales tf_crop_and_resize sizes by the roi extent too, but ONNX Runtime does not; we follow ORT.
        for (int i = 0; i < axes.Length; i++) dims[axes[i]] = Scaled(x[axes[i]], scales[i]);
        c.Set(0, type, dims);
    }

    private static int[] Axes(NodeShapeContext c, int rank)
    {
        if (c.Opset >= 18 && c.Ints("axes") is { } given)
            return given.Select(a => NodeShapeContext.Axis(a, rank) ?? 0).ToArray();
        return Enumerable.Range(0, rank).ToArray();
    }

    /// <summary>floor(size × scale) computed in single precision, as ONNX Runtime does.</summary>
    private static Dim Scaled(Dim size, double scale)
    {
        if (size.IsKnown) return Dim.Known((long)Math.Floor((float)scale * (float)size.Value!.Value));
        if (scale == Math.Floor(scale) && scale >= 1) return DimMath.Mul(size, Dim.Known((long)scale));
        return Dim.Unknown;
    }

    private static void Upsample(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        if (c.ShapeOf(0) is not { } x)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        double[]? scales = c.Opset >= 9 ? c.Doubles(1) : c.Node.GetAttribute("scales")?.AsFloats().Select(f => (double)f).ToArray();
        if (scales is null || scales.Length != x.Rank)
        {
            c.Set(0, type, Enumerable.Repeat(Dim.Unknown, x.Rank));
            return;
        }
        c.Set(0, type, x.Dims.Select((d, i) => Scaled(d, scales[i])));
    }

    private static void Pad(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        if (c.ShapeOf(0) is not { } x)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        Dim[]? pads = c.Opset < 11
            ? (c.Ints("pads") ?? c.Ints("paddings"))?.Select(Dim.Known).ToArray()
            : c.Data(1)?.Elements;
        int[] axes = Enumerable.Range(0, x.Rank).ToArray();
        if (c.Opset >= 18 && c.Has(3))
        {
            if (c.Longs(3) is not { } given)
            {
                c.Set(0, type, Enumerable.Repeat(Dim.Unknown, x.Rank));
                return;
            }
            axes = given.Select(a => NodeShapeContext.Axis(a, x.Rank) ?? -1).ToArray();
            if (axes.Contains(-1)) return;
        }
        var dims = x.Dims.Select(DimMath.Clean).ToArray();
        if (pads is null || pads.Length != 2 * axes.Length)
        {
            foreach (int a in axes) dims[a] = Dim.Unknown;
        }
        else
        {
            for (int i = 0; i < axes.Length; i++)
                dims[axes[i]] = DimMath.Add(DimMath.Add(x[axes[i]], pads[i]), pads[i + axes.Length]);
        }
        c.Set(0, type, dims);
    }

    /// <summary>CenterCropPad: the given axes (all by default) take the sizes of the shape input.</summary>
    private static void CenterCropPad(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        if (c.ShapeOf(0) is not { } x)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        var axes = c.Ints("axes") is { } given ? given.Select(a => NodeShapeContext.Axis(a, x.Rank) ?? -1).ToArray() : Enumerable.Range(0, x.Rank).ToArray();
        if (axes.Contains(-1)) return;
        var dims = x.Dims.Select(DimMath.Clean).ToArray();
        var sizes = c.Data(1);
        for (int i = 0; i < axes.Length; i++)
            dims[axes[i]] = sizes is { Rank: 1 } && sizes.Elements.Length == axes.Length ? sizes.Elements[i] : Dim.Unknown;
        c.Set(0, type, dims);
    }

    private static void GridSample(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        var x = c.ShapeOf(0);
        var grid = c.ShapeOf(1);
        if (x is null || grid is null || grid.Rank != x.Rank)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        c.Set(0, type, new[] { DimMath.Unify(x[0], grid[0]), DimMath.Clean(x[1]) }.Concat(grid.Dims.Skip(1).Take(grid.Rank - 2).Select(DimMath.Clean)));
    }

    private static void RoiAlign(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        Dim rois = c.ShapeOf(1) is { Rank: 2 } r ? DimMath.Clean(r[0]) : Dim.Unknown;
        Dim channels = c.ShapeOf(0) is { Rank: 4 } x ? DimMath.Clean(x[1]) : Dim.Unknown;
        c.Set(0, type, [rois, channels, Dim.Known(c.Int("output_height", 1)), Dim.Known(c.Int("output_width", 1))]);
    }
}
