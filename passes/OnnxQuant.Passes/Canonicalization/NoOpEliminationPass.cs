using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization;

/// <summary>
/// Removes nodes that return their input unchanged, making their consumers read the input directly.
/// <para>Identities (y = x exactly, element type and shape included): Identity; Dropout in inference (ratio is
/// irrelevant; opset 12+ only when training_mode is absent or a constant false, before opset 7 only with
/// is_test=1); Cast/CastLike to the input's own type; Reshape/Flatten/Squeeze/Unsqueeze/Expand whose output shape
/// equals the input's (these never reorder data); Transpose with the identity permutation; Tile by all ones; Pad by
/// all zeros; Slice that keeps every element with step 1; Concat of one input; x+0, 0+x, x−0, x·1, 1·x, x/1 with a
/// constant whose broadcast leaves x's shape as it is (integer types included; −0 counts as 0).</para>
/// <para>Preconditions: none; opset-dependent operands (Pad, Slice, Squeeze, Dropout) are read at the graph's
/// opset.</para>
/// <para>Does not fire: when an extra output (Dropout's mask) is used; when operands that decide it are not
/// constants; when the node's output is a graph output and its input cannot take the output's name (the input is a
/// graph input or already an output, or lives in an enclosing graph — an If branch returning an outer value keeps its
/// Identity); counted as <c>kept-graph-output</c>.</para>
/// </summary>
public sealed class NoOpEliminationPass : Pass<NoOpEliminationOptions>
{
    public override string Name => "noop";

    public override string Summary => "Remove nodes that return their input unchanged (Identity, inference Dropout, same-type Cast, ...).";

    public override PassResult Run(Model model, NoOpEliminationOptions options, PassContext context)
    {
        var listed = ValueRules.ListedByInnerGraphs(model);
        bool changed = false;
        foreach (var scope in GraphScope.All(model, includeFunctions: true))
        {
            foreach (var node in scope.Graph.Nodes)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                if (node.Outputs.Count == 0 || node.Outputs[0] is not { } y) continue;
                if (PassThroughInput(node, scope.Opset, options) is not { } x) continue;
                if (!ExtraOutputsUnused(node, listed)) continue;
                if (ValueRules.WhyNotReplace(y, x, listed) is { } reason)
                {
                    context.Count("kept-graph-output");
                    context.Log($"noop: keeping {node}: {reason}.");
                    continue;
                }
                ValueRules.Replace(y, x);
                scope.Graph.Remove(node);
                context.Count($"removed.{node.OpType}");
                changed = true;
            }
        }
        return PassResult.From(changed);
    }

    private static bool ExtraOutputsUnused(Node node, HashSet<Value> listed)
    {
        for (int i = 1; i < node.Outputs.Count; i++)
            if (node.Outputs[i] is { } o && !ValueRules.IsUnused(o, listed)) return false;
        return true;
    }

    /// <summary>The input the node passes through unchanged, or null when it is not (provably) a no-op.</summary>
    internal static Value? PassThroughInput(Node node, long opset, NoOpEliminationOptions options)
    {
        if (!node.IsDefaultDomain || node.Input(0) is not { } x) return null;
        var y = node.Outputs[0]!;
        bool fires = node.OpType switch
        {
            "Identity" => true,
            "Dropout" => IsInferenceDropout(node, opset),
            "Cast" => x.ElementType is { } t && node.GetAttribute("to") is { Value: long to } && (long)t == to,
            "CastLike" => x.ElementType is { } t && node.Input(1)?.ElementType == t,
            "Reshape" => ReshapeKeepsShape(node, x, opset) || (options.TrustRecordedShapes && SameStaticShape(x, y)),
            "Flatten" => FlattenKeepsShape(node, x) || (options.TrustRecordedShapes && SameStaticShape(x, y)),
            "Squeeze" => SqueezeKeepsShape(node, x, opset) || (options.TrustRecordedShapes && SameStaticShape(x, y)),
            "Unsqueeze" => options.TrustRecordedShapes && SameStaticShape(x, y),
            "Expand" => ExpandKeepsShape(node, x) || (options.TrustRecordedShapes && SameStaticShape(x, y)),
            "Tile" => TensorValues.Ints(ValueRules.FixedConstant(node.Input(1))) is { } r && r.All(v => v == 1),
            "Transpose" => TransposeIsIdentity(node, x),
            "Pad" => PadIsZero(node, opset),
            "Slice" => SliceTakesAll(node, x, opset),
            "Concat" => node.Inputs.Count == 1,
            "Add" or "Mul" when options.ArithmeticIdentities => ArithmeticPassThrough(node, node.OpType == "Add" ? 0 : 1, either: true) is not null,
            "Sub" or "Div" when options.ArithmeticIdentities => ArithmeticPassThrough(node, node.OpType == "Sub" ? 0 : 1, either: false) is not null,
            _ => false,
        };
        if (!fires) return null;
        return node.OpType is "Add" or "Mul" or "Sub" or "Div"
            ? ArithmeticPassThrough(node, node.OpType is "Add" or "Sub" ? 0 : 1, either: node.OpType is "Add" or "Mul")
            : x;
    }

    private static bool IsInferenceDropout(Node node, long opset)
    {
        if (opset < 7) return node.GetAttribute("is_test") is { Value: long isTest } && isTest != 0;
        if (node.Input(2) is not { } trainingMode) return true;
        return ValueRules.FixedConstant(trainingMode) is { ElementType: DataType.Bool, ElementCount: 1 } t && t.RawData.Span[0] == 0;
    }

    private static bool SameStaticShape(Value x, Value y) =>
        x.Shape is { IsStatic: true } xs && y.Shape is { IsStatic: true } ys && xs.Equals(ys);

    /// <summary>
    /// Reshape keeps the shape when the target has the input's rank and each entry is 0 (copy, unless allowzero),
    /// the input's known size, or a single −1 (which then must be the remaining dimension).
    /// </summary>
    private static bool ReshapeKeepsShape(Node node, Value x, long opset)
    {
        if (x.Shape is not { } shape || TensorValues.Ints(ValueRules.FixedConstant(node.Input(1))) is not { } target) return false;
        if (target.Length != shape.Rank) return false;
        bool allowZero = opset >= 14 && node.GetInt("allowzero", 0) != 0;
        int minusOnes = 0;
        for (int i = 0; i < target.Length; i++)
        {
            long t = target[i];
            var d = shape[i];
            if (t == 0 && !allowZero) continue;
            if (t == -1 && ++minusOnes == 1) continue;
            if (d.Value != t) return false;
        }
        return minusOnes <= 1;
    }

    private static bool FlattenKeepsShape(Node node, Value x)
    {
        if (x.Shape is not { } shape) return false;
        long axis = node.GetInt("axis", 1);
        if (axis < 0) axis += shape.Rank;
        // Flatten's output is 2-D: [prod(dims before axis), prod(dims from axis)].
        if (shape.Rank != 2) return false;
        return axis == 1 || (axis == 0 && shape[0].Value == 1) || (axis == 2 && shape[1].Value == 1);
    }

    /// <summary>Squeeze without axes removes every size-1 dimension: a no-op only when every size is known and none is 1.</summary>
    private static bool SqueezeKeepsShape(Node node, Value x, long opset)
    {
        bool hasAxes = opset >= 13 ? node.Input(1) is not null : node.GetAttribute("axes") is not null;
        if (hasAxes) return false;
        return x.Shape is { IsStatic: true } s && s.Dims.All(d => d.Value != 1);
    }

    /// <summary>Expand broadcasts x with the target: x's shape survives when each target entry is 1 or x's size there.</summary>
    private static bool ExpandKeepsShape(Node node, Value x)
    {
        if (x.Shape is not { } shape || TensorValues.Ints(ValueRules.FixedConstant(node.Input(1))) is not { } target) return false;
        if (target.Length > shape.Rank) return false;
        int offset = shape.Rank - target.Length;
        for (int i = 0; i < target.Length; i++)
            if (target[i] != 1 && shape[offset + i].Value != target[i]) return false;
        return true;
    }

    private static bool TransposeIsIdentity(Node node, Value x)
    {
        if (node.GetInts("perm") is { } perm) return perm.Select((p, i) => p == i).All(b => b);
        // Without perm the dimensions are reversed: the same only for rank 0 or 1.
        return x.Shape is { Rank: <= 1 };
    }

    private static bool PadIsZero(Node node, long opset)
    {
        long[]? pads = opset >= 11
            ? TensorValues.Ints(ValueRules.FixedConstant(node.Input(1)))
            : node.GetInts("pads")?.ToArray();
        return pads is not null && pads.All(p => p == 0);
    }

    /// <summary>
    /// Slice keeps everything when, on every sliced axis, the step is 1, the start clamps to 0 and the end clamps to the
    /// size. With the size unknown only start 0 and an end of at least 2^31−1 (exporters' "to the end") qualify.
    /// </summary>
    private static bool SliceTakesAll(Node node, Value x, long opset)
    {
        long[]? starts, ends, axes = null, steps = null;
        if (opset >= 10)
        {
            starts = TensorValues.Ints(ValueRules.FixedConstant(node.Input(1)));
            ends = TensorValues.Ints(ValueRules.FixedConstant(node.Input(2)));
            // Optional operands: absent is fine, present but not constant is not.
            if (node.Input(3) is { } a && (axes = TensorValues.Ints(ValueRules.FixedConstant(a))) is null) return false;
            if (node.Input(4) is { } s && (steps = TensorValues.Ints(ValueRules.FixedConstant(s))) is null) return false;
        }
        else
        {
            starts = node.GetInts("starts")?.ToArray();
            ends = node.GetInts("ends")?.ToArray();
            axes = node.GetInts("axes")?.ToArray();
        }
        if (starts is null || ends is null || starts.Length != ends.Length) return false;
        if (axes is not null && axes.Length != starts.Length) return false;
        if (steps is not null && (steps.Length != starts.Length || steps.Any(s => s != 1))) return false;
        int? rank = x.Shape?.Rank;
        for (int i = 0; i < starts.Length; i++)
        {
            long axis = axes?[i] ?? i;
            if (axis < 0)
            {
                if (rank is null) return false;
                axis += rank.Value;
            }
            long? dim = rank is { } r && axis < r ? x.Shape![(int)axis].Value : null;
            if (dim is { } n)
            {
                long start = Math.Clamp(starts[i] < 0 ? starts[i] + n : starts[i], 0, n);
                long end = Math.Clamp(ends[i] < 0 ? ends[i] + n : ends[i], 0, n);
                if (start != 0 || end != n) return false;
            }
            else if (starts[i] != 0 || ends[i] < int.MaxValue) return false;
        }
        return true;
    }

    /// <summary>
    /// For x∘c with c a constant filled with the neutral element (0 for Add/Sub, 1 for Mul/Div) on the right (or on
    /// either side when ∘ commutes), x — provided broadcasting c leaves x's shape alone: c's rank is at most x's and
    /// each of c's sizes is 1 or x's known size there (a scalar c fits any x).
    /// </summary>
    private static Value? ArithmeticPassThrough(Node node, double neutral, bool either)
    {
        if (node.Inputs.Count != 2 || node.Input(0) is not { } a || node.Input(1) is not { } b) return null;
        if (Neutral(b, a, neutral)) return a;
        if (either && Neutral(a, b, neutral)) return b;
        return null;
    }

    private static bool Neutral(Value constant, Value x, double neutral)
    {
        if (ValueRules.FixedConstant(constant) is not { } c || !TensorValues.AllEqual(c, neutral)) return false;
        if (x.ElementType is { } t && t != c.ElementType) return false;
        if (c.Rank == 0) return true;
        if (x.Shape is not { } shape || c.Rank > shape.Rank) return false;
        int offset = shape.Rank - c.Rank;
        for (int i = 0; i < c.Rank; i++)
            if (c.Dims[i] != 1 && shape[offset + i].Value != c.Dims[i]) return false;
        return true;
    }
}
