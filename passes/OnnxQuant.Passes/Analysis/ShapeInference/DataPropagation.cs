using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// Computes the contents of small integer tensors through the ops that shape computations use (Shape, Gather,
/// Slice, Concat, Unsqueeze, Cast, integer arithmetic, Equal/Where, ConstantOfShape, Range …), element by element on
/// <see cref="Dim"/>s, so symbolic sizes flow into Reshape, Expand, Slice and ConstantOfShape. Anything else (or any
/// input whose contents are not known) gives null.
/// </summary>
internal static class DataPropagation
{
    public static SymbolicTensor? Evaluate(Node node, int output, SymbolicEvaluator eval)
    {
        if (!node.IsDefaultDomain) return null;
        try
        {
            return node.OpType switch
            {
                "Identity" when output == 0 => eval.Evaluate(node.Input(0)),
                "Cast" => Cast(eval.Evaluate(node.Input(0)), (DataType)node.GetInt("to", 0)),
                "Shape" => ShapeOf(node, eval),
                "Size" => SizeOf(node),
                "Gather" => Gather(node, eval),
                "Unsqueeze" or "Squeeze" or "Reshape" or "Flatten" => Reshaped(node, eval),
                "Concat" => Concat(node, eval),
                "Slice" => Slice(node, eval),
                "Split" => Split(node, output, eval),
                "Add" or "Sub" or "Mul" or "Div" or "Mod" or "Max" or "Min" or "Equal" or "Less" or "Greater"
                    or "LessOrEqual" or "GreaterOrEqual" or "And" or "Or" or "Xor" => Binary(node, eval),
                "Neg" or "Abs" or "Not" or "Sign" => Unary(node, eval),
                "Where" => Where(node, eval),
                "ConstantOfShape" => ConstantOfShape(node, eval),
                "Range" => Range(node, eval),
                "Expand" => Expand(node, eval),
                "ReduceProd" or "ReduceSum" or "ReduceMax" or "ReduceMin" => Reduce(node, eval),
                _ => null,
            };
        }
        catch (ArithmeticException)
        {
            // Overflow or division by zero in a model's own shape arithmetic: leave the value unknown.
            return null;
        }
    }

    private static SymbolicTensor? Cast(SymbolicTensor? x, DataType to)
    {
        if (x is null || !SymbolicTensor.IsTracked(to)) return null;
        if (to == DataType.Bool)
            return new SymbolicTensor(to, x.Dims, x.Elements.Select(e => e.IsKnown ? Dim.Known(e.Value != 0 ? 1 : 0) : Dim.Unknown).ToArray());
        // Sizes fit every integer type that shape computations cast to; a value that would wrap is left unknown.
        var (min, max) = to.IntegerRange();
        return new SymbolicTensor(to, x.Dims, x.Elements.Select(e => e.IsKnown && (e.Value < min || e.Value > max) ? Dim.Unknown : e).ToArray());
    }

    private static SymbolicTensor? ShapeOf(Node node, SymbolicEvaluator eval)
    {
        if (node.Input(0) is not { } x || NodeShapeContext.ShapeOfValue(x) is not { } shape) return null;
        var (start, end) = ShapeRange(node, shape.Rank, eval.Opset);
        return SymbolicTensor.Vector(DataType.Int64, shape.Dims.Skip(start).Take(Math.Max(0, end - start)));
    }

    /// <summary>Shape's start/end attributes (opset 15), clamped as the spec says.</summary>
    public static (int Start, int End) ShapeRange(Node node, int rank, int opset)
    {
        if (opset < 15) return (0, rank);
        long start = node.GetInt("start", 0), end = node.GetInt("end", rank);
        if (start < 0) start += rank;
        if (end < 0) end += rank;
        return ((int)Math.Clamp(start, 0, rank), (int)Math.Clamp(end, 0, rank));
    }

    private static SymbolicTensor? SizeOf(Node node)
    {
        if (node.Input(0) is not { } x || NodeShapeContext.ShapeOfValue(x) is not { } shape) return null;
        return new SymbolicTensor(DataType.Int64, [], [DimMath.Product(shape.Dims)]);
    }

    private static SymbolicTensor? Gather(Node node, SymbolicEvaluator eval)
    {
        if (eval.Evaluate(node.Input(0)) is not { } data || eval.Evaluate(node.Input(1)) is not { } idx) return null;
        if (idx.ToLongs() is not { } indices || data.Rank == 0) return null;
        int? axisOrNull = NodeShapeContext.Axis(node.GetInt("axis", 0), data.Rank);
        if (axisOrNull is not int axis) return null;
        long outer = data.Dims.Take(axis).Aggregate(1L, (a, b) => a * b);
        long inner = data.Dims.Skip(axis + 1).Aggregate(1L, (a, b) => a * b);
        long n = data.Dims[axis];
        var dims = data.Dims.Take(axis).Concat(idx.Dims).Concat(data.Dims.Skip(axis + 1)).ToArray();
        var result = new List<Dim>();
        for (long o = 0; o < outer; o++)
            foreach (long raw in indices)
            {
                long i = raw < 0 ? raw + n : raw;
                if (i < 0 || i >= n) return null;
                for (long k = 0; k < inner; k++) result.Add(data.Elements[(o * n + i) * inner + k]);
            }
        return new SymbolicTensor(data.ElementType, dims, result.ToArray());
    }

    /// <summary>Ops that keep the elements and only change the dims: take the dims from the inferred output shape.</summary>
    private static SymbolicTensor? Reshaped(Node node, SymbolicEvaluator eval)
    {
        if (eval.Evaluate(node.Input(0)) is not { } x) return null;
        if (node.Outputs[0] is not { } y || NodeShapeContext.ShapeOfValue(y)?.ToArray() is not { } dims) return null;
        return dims.Aggregate(1L, (a, b) => a * b) == x.Elements.Length ? x.WithDims(dims) : null;
    }

    private static SymbolicTensor? Concat(Node node, SymbolicEvaluator eval)
    {
        var parts = new List<SymbolicTensor>();
        foreach (var v in node.Inputs)
        {
            if (eval.Evaluate(v) is not { } part) return null;
            parts.Add(part);
        }
        if (parts.Count == 0) return null;
        int rank = parts[0].Rank;
        if (rank == 0 || parts.Any(p => p.Rank != rank)) return null;
        if (NodeShapeContext.Axis(node.GetInt("axis", 0), rank) is not int axis) return null;
        long outer = parts[0].Dims.Take(axis).Aggregate(1L, (a, b) => a * b);
        var elements = new List<Dim>();
        for (long o = 0; o < outer; o++)
            foreach (var p in parts)
            {
                long chunk = p.Dims.Skip(axis).Aggregate(1L, (a, b) => a * b);
                for (long k = 0; k < chunk; k++) elements.Add(p.Elements[o * chunk + k]);
            }
        var dims = parts[0].Dims.ToArray();
        dims[axis] = parts.Sum(p => p.Dims[axis]);
        return new SymbolicTensor(parts[0].ElementType, dims, elements.ToArray());
    }

    private static SymbolicTensor? Slice(Node node, SymbolicEvaluator eval)
    {
        if (eval.Evaluate(node.Input(0)) is not { } x || x.Rank == 0) return null;
        if (SliceParameters.Read(node, eval.Opset, i => eval.Evaluate(node.Input(i))) is not { } p || p.Starts.Concat(p.Ends).Any(d => !d.IsKnown)) return null;
        var axes = p.AxesOrDefault;
        var ranges = new (long Start, long Count, long Step)[x.Rank];
        for (int d = 0; d < x.Rank; d++) ranges[d] = (0, x.Dims[d], 1);
        for (int k = 0; k < axes.Length; k++)
        {
            if (NodeShapeContext.Axis(axes[k], x.Rank) is not int axis) return null;
            var (start, count) = SliceParameters.Resolve(p.Starts[k].Value!.Value, p.Ends[k].Value!.Value, p.Steps[k], x.Dims[axis]);
            ranges[axis] = (start, count, p.Steps[k]);
        }
        var dims = ranges.Select(r => r.Count).ToArray();
        var elements = new List<Dim>();
        var strides = new long[x.Rank];
        long s = 1;
        for (int d = x.Rank - 1; d >= 0; d--) { strides[d] = s; s *= x.Dims[d]; }
        void Walk(int d, long offset)
        {
            if (d == x.Rank) { elements.Add(x.Elements[offset]); return; }
            for (long i = 0; i < ranges[d].Count; i++) Walk(d + 1, offset + (ranges[d].Start + i * ranges[d].Step) * strides[d]);
        }
        Walk(0, 0);
        return new SymbolicTensor(x.ElementType, dims, elements.ToArray());
    }

    private static SymbolicTensor? Split(Node node, int output, SymbolicEvaluator eval)
    {
        if (eval.Evaluate(node.Input(0)) is not { } x || x.Rank != 1) return null;
        if (NodeShapeContext.Axis(node.GetInt("axis", 0), 1) is not 0) return null;
        if (node.Outputs[output] is not { } y || NodeShapeContext.ShapeOfValue(y)?.ToArray() is not { Length: 1 } dims) return null;
        long offset = 0;
        for (int i = 0; i < output; i++)
        {
            if (node.Outputs[i] is not { } prev || NodeShapeContext.ShapeOfValue(prev)?.ToArray() is not { Length: 1 } pd) return null;
            offset += pd[0];
        }
        if (offset + dims[0] > x.Elements.Length) return null;
        return new SymbolicTensor(x.ElementType, dims, x.Elements.Skip((int)offset).Take((int)dims[0]).ToArray());
    }

    private static SymbolicTensor? Binary(Node node, SymbolicEvaluator eval)
    {
        if (eval.Evaluate(node.Input(0)) is not { } a || eval.Evaluate(node.Input(1)) is not { } b) return null;
        Func<Dim, Dim, Dim> f = node.OpType switch
        {
            "Add" => DimMath.Add,
            "Sub" => DimMath.Sub,
            "Mul" => DimMath.Mul,
            "Div" => DimMath.DivTrunc,
            "Mod" => (x, y) => x.IsKnown && y.IsKnown && y.Value != 0 ? Dim.Known(Mod(x.Value!.Value, y.Value!.Value, node.GetInt("fmod", 0) != 0)) : Dim.Unknown,
            "Max" => (x, y) => x.IsKnown && y.IsKnown ? Dim.Known(Math.Max(x.Value!.Value, y.Value!.Value)) : DimMath.Same(x, y) ? x : Dim.Unknown,
            "Min" => (x, y) => x.IsKnown && y.IsKnown ? Dim.Known(Math.Min(x.Value!.Value, y.Value!.Value)) : DimMath.Same(x, y) ? x : Dim.Unknown,
            "Equal" => (x, y) => x.IsKnown && y.IsKnown ? Bool(x.Value == y.Value) : DimMath.Same(x, y) ? Bool(true) : Dim.Unknown,
            "Less" => (x, y) => Compare(x, y, c => c < 0),
            "Greater" => (x, y) => Compare(x, y, c => c > 0),
            "LessOrEqual" => (x, y) => Compare(x, y, c => c <= 0),
            "GreaterOrEqual" => (x, y) => Compare(x, y, c => c >= 0),
            "And" => (x, y) => x.Value == 0 || y.Value == 0 ? Bool(false) : x.IsKnown && y.IsKnown ? Bool(true) : Dim.Unknown,
            "Or" => (x, y) => x.Value is > 0 || y.Value is > 0 ? Bool(true) : x.IsKnown && y.IsKnown ? Bool(false) : Dim.Unknown,
            "Xor" => (x, y) => x.IsKnown && y.IsKnown ? Bool((x.Value != 0) != (y.Value != 0)) : Dim.Unknown,
            _ => throw new InvalidOperationException(node.OpType),
        };
        var type = node.OpType is "Equal" or "Less" or "Greater" or "LessOrEqual" or "GreaterOrEqual" or "And" or "Or" or "Xor"
            ? DataType.Bool : a.ElementType;
        return Broadcast([a, b], type, e => f(e[0], e[1]));
    }

    private static long Mod(long x, long y, bool fmod)
    {
        long r = x % y;
        return !fmod && r != 0 && (r < 0) != (y < 0) ? r + y : r;
    }

    private static Dim Bool(bool b) => Dim.Known(b ? 1 : 0);

    private static Dim Compare(Dim x, Dim y, Func<int, bool> test) =>
        x.IsKnown && y.IsKnown ? Bool(test(x.Value!.Value.CompareTo(y.Value!.Value))) : Dim.Unknown;

    private static SymbolicTensor? Unary(Node node, SymbolicEvaluator eval)
    {
        if (eval.Evaluate(node.Input(0)) is not { } x) return null;
        Func<Dim, Dim> f = node.OpType switch
        {
            "Neg" => d => d.IsKnown ? Dim.Known(-d.Value!.Value) : Dim.Unknown,
            "Abs" => d => d.IsKnown ? Dim.Known(Math.Abs(d.Value!.Value)) : d,
            "Sign" => d => d.IsKnown ? Dim.Known(Math.Sign(d.Value!.Value)) : Dim.Unknown,
            _ => d => d.IsKnown ? Bool(d.Value == 0) : Dim.Unknown,
        };
        return new SymbolicTensor(x.ElementType, x.Dims, x.Elements.Select(f).ToArray());
    }

    private static SymbolicTensor? Where(Node node, SymbolicEvaluator eval)
    {
        if (eval.Evaluate(node.Input(0)) is not { } c || eval.Evaluate(node.Input(1)) is not { } x
            || eval.Evaluate(node.Input(2)) is not { } y) return null;
        return Broadcast([c, x, y], x.ElementType,
            e => e[0].IsKnown ? (e[0].Value != 0 ? e[1] : e[2]) : DimMath.Same(e[1], e[2]) ? e[1] : Dim.Unknown);
    }

    private static SymbolicTensor? ConstantOfShape(Node node, SymbolicEvaluator eval)
    {
        if (eval.Evaluate(node.Input(0))?.ToLongs() is not { } dims || dims.Any(d => d < 0)) return null;
        long count = dims.Aggregate(1L, (a, b) => a * b);
        if (count > SymbolicTensor.MaxElements) return null;
        var value = node.GetAttribute("value")?.AsTensor();
        var type = value?.ElementType ?? DataType.Float;
        if (!SymbolicTensor.IsTracked(type)) return null;
        long fill = value is null ? 0 : value.ToInt64Array()[0];
        return new SymbolicTensor(type, dims, Enumerable.Repeat(Dim.Known(fill), (int)count).ToArray());
    }

    private static SymbolicTensor? Range(Node node, SymbolicEvaluator eval)
    {
        if (eval.Evaluate(node.Input(0)) is not { } s || s.ToLongs() is not [long start]
            || eval.Evaluate(node.Input(1))?.ToLongs() is not [long limit]
            || eval.Evaluate(node.Input(2))?.ToLongs() is not [long delta] || delta == 0) return null;
        long count = Math.Max(DimMath.CeilDiv(limit - start, delta), 0);
        if (count > SymbolicTensor.MaxElements) return null;
        return new SymbolicTensor(s.ElementType, [count], Enumerable.Range(0, (int)count).Select(i => Dim.Known(start + i * delta)).ToArray());
    }

    private static SymbolicTensor? Expand(Node node, SymbolicEvaluator eval)
    {
        if (eval.Evaluate(node.Input(0)) is not { } x || eval.Evaluate(node.Input(1))?.ToLongs() is not { } shape) return null;
        var ones = new SymbolicTensor(x.ElementType, shape, Enumerable.Repeat(Dim.Known(0), (int)Math.Min(
            shape.Aggregate(1L, (a, b) => a * b), SymbolicTensor.MaxElements + 1)).ToArray());
        if (ones.Elements.Length > SymbolicTensor.MaxElements) return null;
        return Broadcast([x, ones.WithDims(shape)], x.ElementType, e => e[0]);
    }

    private static SymbolicTensor? Reduce(Node node, SymbolicEvaluator eval)
    {
        // Only the whole-vector reductions that shape code uses (ReduceProd of a shape slice, …).
        if (eval.Evaluate(node.Input(0)) is not { } x || x.Rank != 1) return null;
        IReadOnlyList<long>? axes = eval.Opset >= 18 || (node.OpType == "ReduceSum" && eval.Opset >= 13)
            ? eval.Evaluate(node.Input(1))?.ToLongs() : node.GetInts("axes");
        if (axes is not null && axes.Count > 0 && !(axes.Count == 1 && NodeShapeContext.Axis(axes[0], 1) == 0)) return null;
        if (axes is { Count: 0 } && node.GetInt("noop_with_empty_axes", 0) != 0) return x;
        Dim r = node.OpType switch
        {
            "ReduceProd" => DimMath.Product(x.Elements),
            "ReduceSum" => x.Elements.Aggregate(Dim.Known(0), DimMath.Add),
            "ReduceMax" => x.IsFullyKnown && x.Elements.Length > 0 ? Dim.Known(x.Elements.Max(e => e.Value!.Value)) : Dim.Unknown,
            _ => x.IsFullyKnown && x.Elements.Length > 0 ? Dim.Known(x.Elements.Min(e => e.Value!.Value)) : Dim.Unknown,
        };
        return new SymbolicTensor(x.ElementType, node.GetInt("keepdims", 1) != 0 ? [1] : [], [r]);
    }

    /// <summary>Elementwise with numpy broadcasting over the (always known) dims of the operands.</summary>
    private static SymbolicTensor? Broadcast(SymbolicTensor[] operands, DataType type, Func<Dim[], Dim> f)
    {
        int rank = operands.Max(o => o.Rank);
        var dims = new long[rank];
        for (int d = 0; d < rank; d++)
        {
            long size = 1;
            foreach (var o in operands)
            {
                int k = d - (rank - o.Rank);
                if (k < 0 || o.Dims[k] == 1) continue;
                if (size != 1 && size != o.Dims[k]) return null;
                size = o.Dims[k];
            }
            dims[d] = size;
        }
        long count = dims.Aggregate(1L, (a, b) => a * b);
        if (count > SymbolicTensor.MaxElements) return null;
        var result = new Dim[count];
        var index = new long[rank];
        var args = new Dim[operands.Length];
        for (long flat = 0; flat < count; flat++)
        {
            long rest = flat;
            for (int d = rank - 1; d >= 0; d--) { index[d] = rest % dims[d]; rest /= dims[d]; }
            for (int j = 0; j < operands.Length; j++)
            {
                var o = operands[j];
                long offset = 0;
                for (int k = 0; k < o.Rank; k++)
                    offset = offset * o.Dims[k] + (o.Dims[k] == 1 ? 0 : index[k + rank - o.Rank]);
                args[j] = o.Elements[offset];
            }
            result[flat] = f(args);
        }
        return new SymbolicTensor(type, dims, result);
    }
}
