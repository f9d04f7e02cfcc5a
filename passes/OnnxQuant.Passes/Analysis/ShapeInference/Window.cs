using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// The sliding-window attributes shared by convolutions and pooling (kernel, strides, dilations, pads, auto_pad),
/// with the output-size formula of the ONNX spec (and ONNX Runtime's rule that with ceil_mode the last window must
/// start inside the input or its left padding).
/// </summary>
internal sealed class Window
{
    private Window(long?[] kernel, long[] strides, long[] dilations, long[] pads, string autoPad)
    {
        Kernel = kernel;
        Strides = strides;
        Dilations = dilations;
        Pads = pads;
        AutoPad = autoPad;
    }

    public long?[] Kernel { get; }
    public long[] Strides { get; }
    public long[] Dilations { get; }

    /// <summary>Begin pads for every axis, then end pads.</summary>
    public long[] Pads { get; }

    public string AutoPad { get; }

    /// <summary>Reads the attributes; the kernel comes from kernel_shape or else the weight's trailing dims.</summary>
    public static Window Read(NodeShapeContext c, int spatial, Shape? weight = null)
    {
        var ks = c.Ints("kernel_shape");
        var kernel = new long?[spatial];
        for (int i = 0; i < spatial; i++)
            kernel[i] = ks is not null && i < ks.Count ? ks[i] : weight is not null && weight.Rank == spatial + 2 ? weight[i + 2].Value : null;
        return new Window(kernel, Fill(c.Ints("strides"), spatial, 1), Fill(c.Ints("dilations"), spatial, 1),
            Fill(c.Ints("pads"), 2 * spatial, 0), c.String("auto_pad", "NOTSET"));
    }

    private static long[] Fill(IReadOnlyList<long>? values, int count, long fallback) =>
        Enumerable.Range(0, count).Select(i => values is not null && i < values.Count ? values[i] : fallback).ToArray();

    public Dim OutputSize(int axis, Dim input, bool ceilMode)
    {
        long stride = Strides[axis];
        if (stride <= 0) return Dim.Unknown;
        if (AutoPad is "SAME_UPPER" or "SAME_LOWER") return DimMath.CeilDiv(input, stride);
        if (Kernel[axis] is not long k) return Dim.Unknown;
        long extent = (k - 1) * Dilations[axis] + 1;
        long padBegin = AutoPad == "VALID" ? 0 : Pads[axis];
        long pads = AutoPad == "VALID" ? 0 : Pads[axis] + Pads[axis + Pads.Length / 2];
        if (!input.IsKnown)
            return stride == 1 && pads - extent + 1 == 0 ? DimMath.Clean(input) : Dim.Unknown;
        long span = input.Value!.Value + pads - extent;
        if (span < 0) return Dim.Unknown;
        long size = (ceilMode ? DimMath.CeilDiv(span, stride) : DimMath.FloorDiv(span, stride)) + 1;
        if (ceilMode && (size - 1) * stride >= input.Value.Value + padBegin) size--;
        return Dim.Known(size);
    }
}
