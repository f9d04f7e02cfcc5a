using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// A Slice node's starts, ends, axes and steps: attributes before opset 10, inputs from 10 on. Starts and ends may
/// be symbolic (a slice up to <c>seq</c>); axes and steps must be known.
/// </summary>
internal sealed record SliceParameters(Dim[] Starts, Dim[] Ends, long[]? Axes, long[] Steps)
{
    /// <summary>Slicing to this end (or beyond) means "to the end" whatever the dimension's size.</summary>
    private const long ToTheEnd = int.MaxValue;

    /// <summary>Null when a starts/ends/steps/axes tensor is not known; <see cref="Axes"/> is null for the default.</summary>
    public static SliceParameters? Read(Node node, int opset, Func<int, SymbolicTensor?> data)
    {
        if (opset < 10)
        {
            if (node.GetInts("starts") is not { } s || node.GetInts("ends") is not { } e || s.Count != e.Count) return null;
            var axes = node.GetInts("axes")?.ToArray();
            if (axes is not null && axes.Length != s.Count) return null;
            return new SliceParameters(s.Select(Dim.Known).ToArray(), e.Select(Dim.Known).ToArray(), axes, Enumerable.Repeat(1L, s.Count).ToArray());
        }
        if (data(1) is not { Rank: 1 } starts || data(2) is not { Rank: 1 } ends || starts.Elements.Length != ends.Elements.Length) return null;
        long[]? ax = null;
        if (node.Input(3) is not null)
        {
            ax = data(3)?.ToLongs();
            if (ax is null || ax.Length != starts.Elements.Length) return null;
        }
        long[] steps;
        if (node.Input(4) is not null)
        {
            if (data(4)?.ToLongs() is not { } st || st.Length != starts.Elements.Length || st.Contains(0)) return null;
            steps = st;
        }
        else steps = Enumerable.Repeat(1L, starts.Elements.Length).ToArray();
        return new SliceParameters(starts.Elements, ends.Elements, ax, steps);
    }

    /// <summary>Axes, defaulting to 0..n-1.</summary>
    public long[] AxesOrDefault => Axes ?? Enumerable.Range(0, Starts.Length).Select(i => (long)i).ToArray();

    /// <summary>The first index and the element count along one axis of known size (ONNX clamping rules).</summary>
    public static (long Start, long Count) Resolve(long start, long end, long step, long size)
    {
        if (size == 0) return (0, 0);
        if (start < 0) start += size;
        if (end < 0) end += size;
        if (step > 0)
        {
            start = Math.Clamp(start, 0, size);
            end = Math.Clamp(end, 0, size);
        }
        else
        {
            start = Math.Clamp(start, 0, size - 1);
            end = Math.Clamp(end, -1, size - 1);
        }
        long count = step > 0 ? DimMath.CeilDiv(end - start, step) : DimMath.CeilDiv(start - end, -step);
        return (start, Math.Max(0, count));
    }

    /// <summary>The output size along one axis: exact when everything is known, else only for whole-axis slices.</summary>
    public static Dim OutputSize(Dim start, Dim end, long step, Dim size)
    {
        if (start.IsKnown && end.IsKnown && size.IsKnown)
            return Dim.Known(Resolve(start.Value!.Value, end.Value!.Value, step, size.Value!.Value).Count);
        if (step == 1 && start.Value == 0 && (end.Value >= ToTheEnd || DimMath.Same(end, size))) return DimMath.Clean(size);
        if (step == -1 && start.Value == -1 && end.Value <= -ToTheEnd) return DimMath.Clean(size);
        return Dim.Unknown;
    }
}
