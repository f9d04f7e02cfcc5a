using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// If, Loop and Scan. Their bodies are inferred first (by <see cref="ShapeInference"/>); untyped body inputs get
/// types from the node's inputs beforehand (<see cref="PrepareBodies"/>). An If whose condition is known takes that
/// branch's output types; otherwise each output is what both branches agree on. Loop-carried body inputs get only
/// the element type and rank, since their shapes may change from one iteration to the next.
/// </summary>
internal static class ControlFlowRules
{
    public static void Register(RuleRegistration add)
    {
        add("", If, "If");
        add("", Loop, "Loop");
        add("", Scan, "Scan");
    }

    /// <summary>Types the inputs of Loop and Scan bodies that the model leaves untyped.</summary>
    public static void PrepareBodies(NodeShapeContext c)
    {
        if (!c.Node.IsDefaultDomain) return;
        if (c.Node.OpType == "Loop" && c.Node.GetAttribute("body")?.Value is Graph loop)
        {
            TypeInput(loop, 0, new TensorType(DataType.Int64, new Shape(Array.Empty<Dim>())));
            TypeInput(loop, 1, new TensorType(DataType.Bool, new Shape(Array.Empty<Dim>())));
            for (int i = 2; i < loop.Inputs.Count; i++) TypeInput(loop, i, Carried(c, i));
        }
        else if (c.Node.OpType == "Scan" && c.Opset >= 9 && c.Node.GetAttribute("body")?.Value is Graph body)
        {
            int m = (int)c.Int("num_scan_inputs", 0);
            int n = c.InputCount - m;
            var axes = c.Ints("scan_input_axes");
            for (int i = 0; i < n && i < body.Inputs.Count; i++) TypeInput(body, i, Carried(c, i));
            for (int j = 0; j < m && n + j < body.Inputs.Count; j++)
            {
                if (c.ElementType(n + j) is not { } type) continue;
                Shape? slice = null;
                if (c.ShapeOf(n + j) is { } s && NodeShapeContext.Axis(axes is not null && j < axes.Count ? axes[j] : 0, s.Rank) is int axis)
                    slice = new Shape(s.Dims.Where((_, k) => k != axis).Select(DimMath.Clean));
                TypeInput(body, n + j, new TensorType(type, slice));
            }
        }
    }

    private static TensorType? Carried(NodeShapeContext c, int input)
    {
        if (c.ElementType(input) is not { } type) return null;
        return new TensorType(type, c.RankOf(input) is int r ? new Shape(Enumerable.Repeat(Dim.Unknown, r)) : null);
    }

    private static void TypeInput(Graph body, int index, TensorType? type)
    {
        if (type is not null && index < body.Inputs.Count && body.Inputs[index].Type is null or UnspecifiedType)
            body.Inputs[index].Type = type;
    }

    private static void If(NodeShapeContext c)
    {
        var then = c.Node.GetAttribute("then_branch")?.Value as Graph;
        var otherwise = c.Node.GetAttribute("else_branch")?.Value as Graph;
        if (then is null || otherwise is null) return;
        if (c.Data(0) is { Elements: [{ IsKnown: true } cond] })
        {
            var taken = cond.Value != 0 ? then : otherwise;
            for (int i = 0; i < c.OutputCount && i < taken.Outputs.Count; i++) c.Set(i, TypeOf(taken.Outputs[i]));
            return;
        }
        for (int i = 0; i < c.OutputCount && i < then.Outputs.Count && i < otherwise.Outputs.Count; i++)
            c.Set(i, Join(TypeOf(then.Outputs[i]), TypeOf(otherwise.Outputs[i])));
    }

    private static void Loop(NodeShapeContext c)
    {
        if (c.Node.GetAttribute("body")?.Value is not Graph body) return;
        int carried = c.InputCount - 2;
        for (int i = 0; i < carried && i < c.OutputCount; i++)
            c.Set(i, Join(c.Input(i + 2) is { } v ? TypeOf(v) : null, 1 + i < body.Outputs.Count ? TypeOf(body.Outputs[1 + i]) : null));
        Dim trips = RunsExactlyM(c, body) && c.Data(0) is { Elements: [var m] } ? DimMath.Clean(m) : Dim.Unknown;
        for (int k = carried; k < c.OutputCount && 1 + k < body.Outputs.Count; k++)
        {
            if (TypeOf(body.Outputs[1 + k]) is not TensorType t) continue;
            c.Set(k, t.ElementType, t.Shape is null ? null : new Shape(t.Shape.Dims.Prepend(trips)));
        }
    }

    /// <summary>
    /// True when the loop cannot stop before M iterations: it starts with a true (or no) condition and its body
    /// hands the condition on unchanged (or always yields true).
    /// </summary>
    private static bool RunsExactlyM(NodeShapeContext c, Graph body)
    {
        if (c.Has(1) && c.Data(1) is not { Elements: [{ Value: not 0 and not null }] }) return false;
        if (body.Outputs.Count == 0 || body.Inputs.Count < 2) return false;
        var cond = body.Outputs[0];
        if (cond.Producer is { OpType: "Identity" } identity && identity.IsDefaultDomain) cond = identity.Inputs[0] ?? cond;
        return ReferenceEquals(cond, body.Inputs[1])
            || (ConstantNode.ConstantOf(cond) is { } t && SymbolicTensor.FromTensor(t)?.ToLongs() is [not 0]);
    }

    private static void Scan(NodeShapeContext c)
    {
        if (c.Opset < 9 || c.Node.GetAttribute("body")?.Value is not Graph body) return;
        int m = (int)c.Int("num_scan_inputs", 0);
        int n = c.InputCount - m;
        for (int i = 0; i < n && i < c.OutputCount; i++)
            c.Set(i, Join(c.Input(i) is { } v ? TypeOf(v) : null, i < body.Outputs.Count ? TypeOf(body.Outputs[i]) : null));
        Dim length = Dim.Unknown;
        var inputAxes = c.Ints("scan_input_axes");
        if (m > 0 && c.ShapeOf(n) is { } first && NodeShapeContext.Axis(inputAxes is { Count: > 0 } ? inputAxes[0] : 0, first.Rank) is int a)
            length = DimMath.Clean(first[a]);
        var outputAxes = c.Ints("scan_output_axes");
        for (int k = n; k < c.OutputCount && k < body.Outputs.Count; k++)
        {
            if (TypeOf(body.Outputs[k]) is not TensorType t) continue;
            if (t.Shape is null)
            {
                c.Set(k, t.ElementType, (Shape?)null);
                continue;
            }
            int j = k - n;
            long axis = outputAxes is not null && j < outputAxes.Count ? outputAxes[j] : 0;
            if (axis < 0) axis += t.Shape.Rank + 1;
            if (axis < 0 || axis > t.Shape.Rank) continue;
            var dims = t.Shape.Dims.Select(DimMath.Clean).ToList();
            dims.Insert((int)axis, length);
            c.Set(k, t.ElementType, dims);
        }
    }

    private static IrType? TypeOf(Value v) =>
        v.Const is { } t ? new TensorType(t.ElementType, new Shape(t.Dims.ToArray())) : v.Type is UnspecifiedType ? null : v.Type;

    private static IrType? Join(IrType? a, IrType? b)
    {
        if (a is TensorType ta && b is TensorType tb)
            return ta.ElementType == tb.ElementType ? new TensorType(ta.ElementType, DimMath.Join(ta.Shape, tb.Shape)) : null;
        if (a is TensorType && b is null) return new TensorType(((TensorType)a).ElementType);
        if (b is TensorType && a is null) return new TensorType(((TensorType)b).ElementType);
        return a is not null && a == b ? a : null;
    }
}
