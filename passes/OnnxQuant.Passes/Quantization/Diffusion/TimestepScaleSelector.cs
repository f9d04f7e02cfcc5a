using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Quantization.Diffusion;

/// <summary>
/// The graph edits of <see cref="InsertTimestepQdqPass"/> for activations: the group index computed once from the
/// timestep input, and per activation two constant tables (scale float[G], zero point uint8[G]) read with Gather and a
/// QuantizeLinear with the selected pair.
/// </summary>
internal sealed class TimestepScaleSelector(Graph graph, Value timestep, TimestepGroups groups, TimestepRanges ranges)
{
    private Value? _group;
    private Node? _lastGroupNode;

    /// <summary>uint8 asymmetric scale and zero point of a range, as DynamicQuantizeLinear computes them.</summary>
    public static (float Scale, byte ZeroPoint) Parameters(float min, float max)
    {
        float lo = Math.Min(min, 0f), hi = Math.Max(max, 0f);
        float scale = (hi - lo) / 255f;
        if (!(scale > 0f) || !float.IsFinite(scale)) return (1f, 0);
        float z = MathF.Round(-lo / scale, MidpointRounding.ToEven);
        return (scale, (byte)Math.Clamp(z, 0f, 255f));
    }

    /// <summary>The per-group (scale, zero point) of <paramref name="tensor"/>; an empty group takes the range over all groups.</summary>
    public static (float[] Scales, byte[] ZeroPoints) Tables((float Min, float Max)[] perGroup)
    {
        float allLo = float.PositiveInfinity, allHi = float.NegativeInfinity;
        foreach (var (lo, hi) in perGroup)
            if (!float.IsNaN(lo))
            {
                allLo = Math.Min(allLo, lo);
                allHi = Math.Max(allHi, hi);
            }
        var scales = new float[perGroup.Length];
        var zeros = new byte[perGroup.Length];
        for (int g = 0; g < perGroup.Length; g++)
        {
            var (lo, hi) = float.IsNaN(perGroup[g].Min) ? (allLo, allHi) : perGroup[g];
            (scales[g], zeros[g]) = Parameters(lo, hi);
        }
        return (scales, zeros);
    }

    public ActivationQuantization? Quantize(Value x, Rewriter rewriter)
    {
        if (x.Name is not { } name || !ranges.Has(name)) return null;
        var (scales, zeros) = Tables(ranges.Of(name));
        var group = Group(rewriter);
        var scaleTable = rewriter.AddConstant(Tensor.FromFloats(scales, scales.Length), rewriter.FreshName(name + "_timestep_scales"));
        var zeroTable = rewriter.AddConstant(Tensor.FromSpan(DataType.UInt8, zeros, [zeros.Length]), rewriter.FreshName(name + "_timestep_zero_points"));
        var scale = new Node("Gather", [scaleTable, group], 1, "", [Ir.Attribute.Int("axis", 0)],
            rewriter.FreshName(name + "_scale_Gather"), [rewriter.FreshName(name + "_scale")]);
        var zero = new Node("Gather", [zeroTable, group], 1, "", [Ir.Attribute.Int("axis", 0)],
            rewriter.FreshName(name + "_zero_point_Gather"), [rewriter.FreshName(name + "_zero_point")]);
        scale.Output.Type = new TensorType(DataType.Float, new Shape());
        zero.Output.Type = new TensorType(DataType.UInt8, new Shape());
        rewriter.InsertAfter(_lastGroupNode!, zero);
        rewriter.InsertAfter(_lastGroupNode!, scale);
        var q = new Node("QuantizeLinear", [x, scale.Output, zero.Output], 1, "", name: rewriter.FreshName(name + "_QuantizeLinear"),
            outputNames: [rewriter.FreshName(name + "_quantized")]);
        q.Output.Type = new TensorType(DataType.UInt8, x.Shape);
        if (x.Producer is { } p && p.Graph == graph) rewriter.InsertAfter(p, q);
        else rewriter.InsertAfter(zero, q);
        return new ActivationQuantization(q.Output, scale.Output, zero.Output);
    }

    /// <summary>g = Clip(Div(Cast&lt;int64&gt;(Gather(Reshape(t, [-1]), 0)), w), 0, G − 1), made once, at the front of the graph.</summary>
    private Value Group(Rewriter rewriter)
    {
        if (_group is not null) return _group;
        var flat = rewriter.AddConstant(Tensor.FromInt64s([-1], 1), rewriter.FreshName("timestep_flat_shape"));
        var zeroIndex = rewriter.AddConstant(Tensor.Scalar(0L), rewriter.FreshName("timestep_first"));
        var width = rewriter.AddConstant(Tensor.Scalar(groups.Width), rewriter.FreshName("timestep_group_width"));
        var low = rewriter.AddConstant(Tensor.Scalar(0L), rewriter.FreshName("timestep_group_min"));
        var high = rewriter.AddConstant(Tensor.Scalar((long)groups.Count - 1), rewriter.FreshName("timestep_group_max"));
        var reshape = new Node("Reshape", [timestep, flat], 1, "", name: rewriter.FreshName("timestep_Reshape"), outputNames: [rewriter.FreshName("timestep_flat")]);
        var first = new Node("Gather", [reshape.Output, zeroIndex], 1, "", [Ir.Attribute.Int("axis", 0)],
            rewriter.FreshName("timestep_Gather"), [rewriter.FreshName("timestep_first_value")]);
        var cast = new Node("Cast", [first.Output], 1, "", [Ir.Attribute.Int("to", (long)DataType.Int64)],
            rewriter.FreshName("timestep_Cast"), [rewriter.FreshName("timestep_int64")]);
        var div = new Node("Div", [cast.Output, width], 1, "", name: rewriter.FreshName("timestep_group_Div"), outputNames: [rewriter.FreshName("timestep_group_raw")]);
        var clip = new Node("Clip", [div.Output, low, high], 1, "", name: rewriter.FreshName("timestep_group_Clip"), outputNames: [rewriter.FreshName("timestep_group")]);
        reshape.Output.Type = new TensorType(timestep.ElementType ?? DataType.Int64, new Shape([Dim.Symbolic("timestep_count")]));
        first.Output.Type = new TensorType(timestep.ElementType ?? DataType.Int64, new Shape());
        foreach (var n in new[] { cast, div, clip }) n.Output.Type = new TensorType(DataType.Int64, new Shape());
        rewriter.InsertAtFront(reshape);
        rewriter.InsertAfter(reshape, first);
        rewriter.InsertAfter(first, cast);
        rewriter.InsertAfter(cast, div);
        rewriter.InsertAfter(div, clip);
        _lastGroupNode = clip;
        return _group = clip.Output;
    }
}
