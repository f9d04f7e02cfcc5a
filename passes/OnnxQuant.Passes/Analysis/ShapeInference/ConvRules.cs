using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// Convolutions: Conv, ConvInteger, QLinearConv, com.microsoft FusedConv, and ConvTranspose (output_shape or
/// output_padding). Spatial sizes follow the ONNX formulas for pads, strides, dilations and auto_pad.
/// </summary>
internal static class ConvRules
{
    public static void Register(RuleRegistration add)
    {
        add("", c => Conv(c, 1, c.ElementType(0)), "Conv");
        add("com.microsoft", c => Conv(c, 1, c.ElementType(0)), "FusedConv");
        add("", c => Conv(c, 1, DataType.Int32), "ConvInteger");
        add("", c => Conv(c, 3, c.ElementType(7)), "QLinearConv");
        add("com.microsoft", c => Conv(c, 3, c.ElementType(7)), "QLinearConv");
        add("", ConvTranspose, "ConvTranspose");
    }

    private static void Conv(NodeShapeContext c, int weightIndex, DataType? type)
    {
        var x = c.ShapeOf(0);
        var w = c.ShapeOf(weightIndex);
        int spatial = x is not null ? x.Rank - 2 : w is not null ? w.Rank - 2 : c.Ints("kernel_shape")?.Count ?? -1;
        if (spatial < 0)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        var dims = new List<Dim> { x is not null ? DimMath.Clean(x[0]) : Dim.Unknown, w is not null ? DimMath.Clean(w[0]) : Dim.Unknown };
        var window = Window.Read(c, spatial, w);
        for (int i = 0; i < spatial; i++)
            dims.Add(x is null ? Dim.Unknown : window.OutputSize(i, x[i + 2], ceilMode: false));
        c.Set(0, type, dims);
    }

    private static void ConvTranspose(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        var x = c.ShapeOf(0);
        var w = c.ShapeOf(1);
        int spatial = x is not null ? x.Rank - 2 : w is not null ? w.Rank - 2 : -1;
        if (spatial < 0)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        long group = c.Int("group", 1);
        var dims = new List<Dim>
        {
            x is not null ? DimMath.Clean(x[0]) : Dim.Unknown,
            w is not null ? DimMath.Mul(w[1], Dim.Known(group)) : Dim.Unknown,
        };
        var outputShape = c.Ints("output_shape");
        var window = Window.Read(c, spatial, w);
        var outputPadding = c.Ints("output_padding");
        string autoPad = c.String("auto_pad", "NOTSET");
        for (int i = 0; i < spatial; i++)
        {
            if (outputShape is not null && outputShape.Count >= spatial)
            {
                dims.Add(Dim.Known(outputShape[outputShape.Count - spatial + i]));
                continue;
            }
            Dim input = x is null ? Dim.Unknown : x[i + 2];
            long stride = window.Strides[i];
            if (autoPad is "SAME_UPPER" or "SAME_LOWER")
            {
                dims.Add(DimMath.Mul(input, Dim.Known(stride)));
                continue;
            }
            long extent = window.Kernel[i] is long k ? (k - 1) * window.Dilations[i] + 1 : -1;
            long padding = outputPadding is not null && i < outputPadding.Count ? outputPadding[i] : 0;
            long pads = autoPad == "VALID" ? 0 : window.Pads[i] + window.Pads[i + spatial];
            if (extent < 0) dims.Add(Dim.Unknown);
            else if (input.IsKnown) dims.Add(Dim.Known(stride * (input.Value!.Value - 1) + padding + extent - pads));
            else dims.Add(stride == 1 && padding + extent - 1 - pads == 0 ? DimMath.Clean(input) : Dim.Unknown);
        }
        c.Set(0, type, dims);
    }
}
