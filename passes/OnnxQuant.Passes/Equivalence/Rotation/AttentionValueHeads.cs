using OnnxQuant.Ir;
using OnnxQuant.Passes.Analysis.ShapeInference;
using OnnxQuant.Passes.Canonicalization;
using OnnxQuant.Passes.LinearLayers;

namespace OnnxQuant.Passes.Equivalence.Rotation;

/// <summary>
/// One attention's value path, for the per-head Hadamard: P·V where V's last axis (the head dimension d_h) comes, through
/// ops that keep blocks of d_h whole (Reshape, Transpose keeping the last axis, Split/Slice/Concat/Gather/Expand on
/// other axes, a bias Add, a scalar Mul; a Gather picking V out of a [.., 3, heads, d_h] split, as timm exports a fused
/// QKV), from a contiguous range of a linear layer's output columns (the V projection,
/// or the V part of a fused QKV), and the attention output reaches the out-projection's input the same way. Then
/// V ← V·(I ⊗ H) and B_out ← (I ⊗ H)ᵀ·B_out: softmax(…)·V·H per head, and H·Hᵀ = I, exactly.
/// </summary>
internal sealed class AttentionValueHeads
{
    public required Node ValueProjection { get; init; }
    /// <summary>First output column of V in <see cref="ValueProjection"/> (0 unless Q, K and V share one layer).</summary>
    public required int ColumnOffset { get; init; }
    public required int ColumnCount { get; init; }
    public required int HeadDim { get; init; }
    /// <summary>Constant inputs added on the V path (a bias after the MatMul), rotated per head like V.</summary>
    public required List<(Node Node, int Input, int Offset, int? Count)> ConstantTerms { get; init; }
    public required Node OutProjection { get; init; }

    /// <summary>Every attention whose value path this recognizes; <paramref name="misses"/> gets why others were not.</summary>
    public static List<AttentionValueHeads> Find(Graph graph, int opset, List<string> misses)
    {
        var evaluator = new SymbolicEvaluator(opset);
        var found = new List<AttentionValueHeads>();
        foreach (var node in graph.Nodes)
        {
            if (node.OpType != "MatMul" || !node.IsDefaultDomain || node.Inputs.Count < 2) continue;
            if (node.Inputs[0] is not { Const: null } || node.Inputs[1] is not { Const: null } v) continue;
            if (node.Inputs[0]!.Producer is not { OpType: "Softmax" }) continue;
            if (LastDim(v) is not { } dh || LastDim(node.Output) != dh) { misses.Add($"{node}: the head dimension is not static"); continue; }
            var trace = new ValuePathTrace((int)dh, evaluator);
            if (trace.Back(v, 0, null, null) is { } whyV) { misses.Add($"{node}: {whyV}"); continue; }
            if (trace.Sources.Count != 1) { misses.Add($"{node}: the values come from {trace.Sources.Count} different column ranges"); continue; }
            if (trace.Escapes(node) is { } whyShared) { misses.Add($"{node}: {whyShared}"); continue; }
            if (TraceForward(node.Output, (int)dh, out var outProjection) is { } whyO) { misses.Add($"{node}: {whyO}"); continue; }
            var (layer, offset, count) = trace.Sources.Single();
            found.Add(new AttentionValueHeads
            {
                ValueProjection = layer, ColumnOffset = offset, ColumnCount = count, HeadDim = (int)dh,
                ConstantTerms = trace.Terms, OutProjection = outProjection!,
            });
        }
        return found;
    }

    private static long? LastDim(Value v) => v.Shape is { Rank: > 0 } s && s[s.Rank - 1].IsKnown ? s[s.Rank - 1].Value : null;

    private static bool KeepsBlocks(Value v, int dh) => LastDim(v) is { } last && last % dh == 0;

    /// <summary>One value path followed back from P·V's V to the projection computing it.</summary>
    private sealed class ValuePathTrace(int dh, SymbolicEvaluator evaluator)
    {
        public List<(Node Node, int Input, int Offset, int? Count)> Terms { get; } = [];
        public HashSet<(Node Layer, int Offset, int Count)> Sources { get; } = [];
        private readonly List<Value> _path = [];
        private readonly List<Node> _selections = [];

        /// <summary>A small integer input's values: a constant, or what shape computations on known shapes give (a Slice's
        /// start computed from Shape, as PyTorch exports a QKV split).</summary>
        private long[]? Ints(Value? v) => v is null ? null : TensorValues.Ints(v.Const) ?? evaluator.Evaluate(v)?.ToLongs();

        /// <summary>
        /// Follows <paramref name="v"/> back; <paramref name="offset"/> and <paramref name="count"/> locate V's columns
        /// once a Slice or a resolved selection gave them; <paramref name="selection"/> is a Gather's (axis, index)
        /// not yet mapped to columns (it is, at the Reshape that split the projection's columns into that axis).
        /// </summary>
        public string? Back(Value v, int offset, int? count, (int Axis, long Index)? selection)
        {
            if (v.Producer is not { } p) return $"{v} is a graph input (a KV cache?)";
            _path.Add(v);
            if (!KeepsBlocks(v, dh)) return $"{v} does not keep whole heads of {dh}";
            if (!p.IsDefaultDomain) return $"{v} is computed by {p}";
            if (selection is not null && p.OpType is not ("Transpose" or "Reshape"))
                return $"{p} is between a head selection and the split it selects from";
            switch (p.OpType)
            {
                case "Reshape" when selection is { } picked:
                    return Select(p, picked, offset, count);
                case "Reshape" or "Squeeze" or "Unsqueeze" or "Identity":
                    return KeepsBlocks(p.Inputs[0]!, dh) ? Back(p.Inputs[0]!, offset, count, null) : $"{p} splits heads";
                case "Transpose":
                    {
                        var perm = p.GetInts("perm");
                        int rank = v.Shape!.Rank;
                        if (perm is null || perm[^1] != rank - 1) return $"{p} moves the head dimension";
                        return Back(p.Inputs[0]!, offset, count, selection is { } s ? ((int)perm[s.Axis], s.Index) : null);
                    }
                case "Expand" or "Tile" when LastDim(p.Inputs[0]!) == LastDim(v):
                    return Back(p.Inputs[0]!, offset, count, null);
                case "Gather" when Ints(p.Input(1)) is [var index] && p.Input(1)!.Const is { Rank: 0 } or null && p.Inputs[0]!.Shape is { } ds:
                    {
                        // A scalar index removes the axis: V is one slab of the data, found at the split that made it.
                        int axis = (int)p.GetInt("axis", 0);
                        if (axis < 0) axis += ds.Rank;
                        if (axis == ds.Rank - 1 || !ds[axis].IsKnown || p.Output.Shape?.Rank != ds.Rank - 1) return $"{p} does not pick whole heads";
                        if (index < 0) index += ds[axis].Value!.Value;
                        _selections.Add(p);
                        return Back(p.Inputs[0]!, offset, count, (axis, index));
                    }
                case "Split" or "Concat" or "Gather" or "Slice":
                    {
                        var data = p.OpType == "Concat" ? null : p.Inputs[0]!;
                        int rank = v.Shape!.Rank;
                        long axis = p.OpType == "Slice" ? SliceAxis(p) : p.GetInt("axis", 0);
                        if (axis < 0) axis += rank;
                        if (axis != rank - 1)
                        {
                            if (p.OpType != "Concat") return Back(data!, offset, count, null);
                            foreach (var input in p.Inputs)
                                if (Back(input!, offset, count, null) is { } why) return why;
                            return null;
                        }
                        if (p.OpType != "Slice") return $"{p} cuts the last axis";
                        if (Ints(p.Input(1)) is not [var start] || start < 0 || start % dh != 0 || count is not null
                            || p.Input(4) is { } steps && Ints(steps) is not [1])
                            return $"{p} does not slice whole heads from a constant start";
                        return Back(data!, offset + (int)start, (int)LastDim(v)!.Value, null);
                    }
                case "Add" or "Mul" or "Div":
                    {
                        int constIndex = p.Inputs[0]!.Const is not null ? 0 : p.Inputs[1]!.Const is not null ? 1 : -1;
                        if (constIndex < 0) return $"{p} combines two computed tensors";
                        var c = p.Inputs[constIndex]!.Const!;
                        if (p.OpType == "Add")
                        {
                            if (c.Rank == 0 || c.Dims[^1] != LastDim(v) || c.Dims.Take(c.Rank - 1).Any(d => d != 1))
                                return $"{p} adds a constant that is not a per-channel bias";
                            Terms.Add((p, constIndex, offset, count));
                        }
                        else if (c.ElementCount != 1 || (p.OpType == "Div" && constIndex == 0)) return $"{p} scales by a non-scalar constant";
                        return Back(p.Inputs[1 - constIndex]!, offset, count, null);
                    }
            }
            if (LinearLayer.TryRead(p, out var layer) is null && p.OpType is "MatMul" or "Gemm" && layer!.Groups == 1)
            {
                int width = count ?? layer.N;
                if (offset + width > layer.N) return $"{p}'s V columns are out of range";
                Sources.Add((p, offset, width));
                return null;
            }
            return $"{v} is computed by {p}";
        }

        /// <summary>
        /// The Reshape <paramref name="reshape"/> splits the last axis [.., L] into [.., s₁, …, s_k] (leading dims kept);
        /// selecting index i of split axis a takes columns [i·stride, (i+1)·stride), stride = the product of the dims after a.
        /// </summary>
        private string? Select(Node reshape, (int Axis, long Index) selection, int offset, int? count)
        {
            if (reshape.Inputs[0]!.Shape is not { } input || reshape.Output.Shape is not { } output || count is not null)
                return $"{reshape}'s shapes are not known";
            int lead = input.Rank - 1;
            if (output.Rank <= input.Rank || !input.Dims.Take(lead).SequenceEqual(output.Dims.Take(lead)) || LastDim(reshape.Inputs[0]!) is not { } width)
                return $"{reshape} does not only split the last axis";
            if (selection.Axis < lead || selection.Axis >= output.Rank - 1) return $"{reshape}: the selected axis is not one it split off";
            long stride = 1;
            for (int i = selection.Axis + 1; i < output.Rank; i++)
            {
                if (!output[i].IsKnown) return $"{reshape}'s shapes are not known";
                stride *= output[i].Value!.Value;
            }
            long start = offset + selection.Index * stride;
            if (start + stride > width) return $"{reshape}: the selection is out of range";
            return Back(reshape.Inputs[0]!, (int)start, (int)stride, null);
        }

        /// <summary>Why rotating V would change a tensor something else reads: a value on the path read off the path
        /// (a KV-cache output, another consumer), or the projection's output read whole by another node.</summary>
        public string? Escapes(Node attention)
        {
            var source = Sources.Single();
            var nodes = _path.Where(v => v.Producer is not null).Select(v => v.Producer!).ToHashSet();
            nodes.Add(attention);
            var layerOutput = source.Layer.Outputs[0]!;
            foreach (var v in _path.Append(layerOutput).Distinct())
            {
                if (v.IsAnyGraphOutput) return $"{v} on the value path is a graph output";
                foreach (var use in v.Uses)
                {
                    if (nodes.Contains(use.Node) || ResidualStream.ReadsShapeOnly(use.Node)) continue;
                    if (!OtherColumns(v, use, source)) return $"{v} on the value path is also read by {use.Node}";
                }
            }
            return null;
        }

        /// <summary>A fused QKV's other column ranges (Q, K), read through their own Slice or Gather, do not change.</summary>
        private bool OtherColumns(Value v, Use use, (Node Layer, int Offset, int Count) source)
        {
            var node = use.Node;
            if (use.InputIndex != 0) return false;
            if (node.OpType == "Slice")
            {
                int rank = v.Shape?.Rank ?? 0;
                return ReferenceEquals(v, source.Layer.Outputs[0]) && SliceAxis(node) is var axis && (axis == -1 || axis == rank - 1)
                    && Ints(node.Input(1)) is [var start] && Ints(node.Input(2)) is [var end]
                    && start >= 0 && (end <= source.Offset || start >= source.Offset + source.Count);
            }
            return node.OpType == "Gather" && Ints(node.Input(1)) is [var index] && _selections.Any(s =>
                ReferenceEquals(s.Inputs[0], v) && s.GetInt("axis", 0) == node.GetInt("axis", 0) && Ints(s.Input(1)) is [var own] && own != index);
        }

        private long SliceAxis(Node slice) =>
            slice.Input(3) is { } axes ? Ints(axes) is [var a] ? a : long.MinValue : Ints(slice.Input(1)) is [_] ? 0 : long.MinValue;
    }

    private static string? TraceForward(Value v, int dh, out Node? outProjection)
    {
        outProjection = null;
        while (true)
        {
            var uses = v.Uses.Where(u => !ResidualStream.ReadsShapeOnly(u.Node)).ToList();
            if (v.IsAnyGraphOutput || uses.Count != 1) return $"the attention output {v} has other readers";
            var (node, input) = (uses[0].Node, uses[0].InputIndex);
            if (!node.IsDefaultDomain) return $"{node} reads the attention output";
            switch (node.OpType)
            {
                case "Reshape" or "Squeeze" or "Unsqueeze" or "Identity" when input == 0 && KeepsBlocks(node.Output, dh):
                    v = node.Output;
                    continue;
                case "Transpose" when node.GetInts("perm") is { } perm && perm[^1] == perm.Count - 1:
                    v = node.Output;
                    continue;
            }
            if (input == 0 && LinearLayer.TryRead(node, out var layer) is null && node.OpType is "MatMul" or "Gemm" && layer!.Groups == 1 && layer.K % dh == 0)
            {
                outProjection = node;
                return null;
            }
            return $"the attention output reaches {node}, not an out-projection";
        }
    }
}
