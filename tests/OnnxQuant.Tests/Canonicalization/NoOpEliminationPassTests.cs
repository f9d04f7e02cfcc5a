using OnnxQuant.Ir;
using OnnxQuant.Passes.Canonicalization;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Canonicalization;

public class NoOpEliminationPassTests
{
    private static readonly NoOpEliminationPass Pass = new();

    private sealed record Case(string Op, long Opset, Func<TinyModel, Value, Value> Build);

    private static Value Zeros(TinyModel m, params long[] dims) =>
        m.Const(Tensor.FromFloats(new float[dims.Aggregate(1L, (a, b) => a * b)], dims));

    private static Value Filled(TinyModel m, float value, params long[] dims) =>
        m.Const(Tensor.FromFloats(Enumerable.Repeat(value, (int)dims.Aggregate(1L, (a, b) => a * b)).ToArray(), dims));

    private static Value Bool(TinyModel m, bool value) => m.Const(Tensor.FromRaw(DataType.Bool, [], new byte[] { value ? (byte)1 : (byte)0 }));

    /// <summary>Nodes that return their [2,3] float input unchanged.</summary>
    private static readonly Dictionary<string, Case> Fires = new()
    {
        ["identity"] = new("Identity", 17, (m, x) => m.Op("Identity", x)),
        ["dropout"] = new("Dropout", 13, (m, x) => m.Op("Dropout", x)),
        ["dropout-ratio-and-training-false"] = new("Dropout", 13, (m, x) => m.Op("Dropout", x, m.Const(Tensor.Scalar(0.5f)), Bool(m, false))),
        ["dropout-10-unused-mask"] = new("Dropout", 10, (m, x) => m.Node("Dropout", [x], 2, Attribute.Float("ratio", 0.3f)).Outputs[0]!),
        ["cast-same-type"] = new("Cast", 17, (m, x) => m.Op("Cast", [x], Attribute.Int("to", (long)DataType.Float))),
        ["castlike-same-type"] = new("CastLike", 17, (m, x) => m.Op("CastLike", x, m.Const(0f))),
        ["reshape-same"] = new("Reshape", 17, (m, x) => m.Op("Reshape", x, m.Ints(2, 3))),
        ["reshape-copy-and-infer"] = new("Reshape", 17, (m, x) => m.Op("Reshape", x, m.Ints(0, -1))),
        ["reshape-recorded-shape"] = new("Reshape", 17, (m, x) =>
        {
            var y = m.Op("Reshape", x, m.Op("Shape", x));
            y.Type = new TensorType(DataType.Float, new Shape(2, 3));
            return y;
        }),
        ["flatten-2d"] = new("Flatten", 17, (m, x) => m.Op("Flatten", [x], Attribute.Int("axis", 1))),
        ["squeeze-nothing"] = new("Squeeze", 17, (m, x) => m.Op("Squeeze", x)),
        ["expand-broadcast-ones"] = new("Expand", 17, (m, x) => m.Op("Expand", x, m.Ints(1, 3))),
        ["tile-ones"] = new("Tile", 17, (m, x) => m.Op("Tile", x, m.Ints(1, 1))),
        ["transpose-identity"] = new("Transpose", 17, (m, x) => m.Op("Transpose", [x], Attribute.Ints("perm", 0, 1))),
        ["pad-zeros"] = new("Pad", 17, (m, x) => m.Op("Pad", x, m.Ints(0, 0, 0, 0))),
        ["pad-2-zeros"] = new("Pad", 6, (m, x) => m.Op("Pad", [x], Attribute.Ints("pads", 0, 0, 0, 0))),
        ["slice-to-end"] = new("Slice", 17, (m, x) => m.Op("Slice", x, m.Ints(0), m.Ints(long.MaxValue), m.Ints(1))),
        ["slice-whole"] = new("Slice", 17, (m, x) => m.Op("Slice", x, m.Ints(0, -3), m.Ints(2, 3))),
        ["slice-9-clamped"] = new("Slice", 9, (m, x) => m.Op("Slice", [x], Attribute.Ints("starts", 0), Attribute.Ints("ends", 10))),
        ["concat-single"] = new("Concat", 17, (m, x) => m.Op("Concat", [x], Attribute.Int("axis", 0))),
        ["add-zero"] = new("Add", 17, (m, x) => m.Op("Add", x, Zeros(m, 3))),
        ["zero-add"] = new("Add", 17, (m, x) => m.Op("Add", Zeros(m), x)),
        ["sub-zero"] = new("Sub", 17, (m, x) => m.Op("Sub", x, Zeros(m, 2, 1))),
        ["mul-one"] = new("Mul", 17, (m, x) => m.Op("Mul", x, Filled(m, 1, 1, 3))),
        ["one-mul"] = new("Mul", 17, (m, x) => m.Op("Mul", Filled(m, 1), x)),
        ["div-one"] = new("Div", 17, (m, x) => m.Op("Div", x, Filled(m, 1, 2, 3))),
    };

    /// <summary>Nodes that look alike but do change their input (or cannot be shown not to).</summary>
    private static readonly Dictionary<string, Case> DoesNotFire = new()
    {
        ["cast-other-type"] = new("Cast", 17, (m, x) => m.Op("Cast", [m.Op("Cast", [x], Attribute.Int("to", (long)DataType.Double))], Attribute.Int("to", (long)DataType.Float))),
        ["reshape-other-shape"] = new("Reshape", 17, (m, x) => m.Op("Reshape", m.Op("Reshape", x, m.Ints(3, 2)), m.Ints(2, 3))),
        ["transpose-swap"] = new("Transpose", 17, (m, x) => m.Op("Transpose", [m.Op("Transpose", [x], Attribute.Ints("perm", 1, 0))], Attribute.Ints("perm", 1, 0))),
        ["transpose-default-reverses"] = new("Transpose", 17, (m, x) => m.Op("Transpose", m.Op("Transpose", x))),
        ["add-zero-that-broadcasts"] = new("Add", 17, (m, x) => m.Op("ReduceMax", [m.Op("Add", x, Zeros(m, 2, 2, 3))], Attribute.Int("keepdims", 0), Attribute.Ints("axes", 0))),
        ["zero-sub"] = new("Sub", 17, (m, x) => m.Op("Sub", Zeros(m), x)),
        ["one-div"] = new("Div", 17, (m, x) => m.Op("Div", Filled(m, 1), m.Op("Add", x, Filled(m, 5)))),
        ["add-one"] = new("Add", 17, (m, x) => m.Op("Add", x, Filled(m, 1))),
        ["mul-two"] = new("Mul", 17, (m, x) => m.Op("Mul", x, Filled(m, 2))),
        ["add-overridable-zero"] = new("Add", 17, (m, x) =>
        {
            var zero = Zeros(m, 3);
            m.Graph.Inputs.Add(zero);
            return m.Op("Add", x, zero);
        }),
        ["dropout-mask-used"] = new("Dropout", 13, (m, x) =>
        {
            var d = m.Node("Dropout", [x], 2);
            return m.Op("Where", d.Outputs[1], d.Outputs[0], Zeros(m));
        }),
        ["dropout-training-mode-input"] = new("Dropout", 13, (m, x) => m.Op("Dropout", x, m.Const(Tensor.Scalar(0.5f)), m.Input("training", DataType.Bool))),
        ["slice-part"] = new("Slice", 17, (m, x) => m.Op("Pad", m.Op("Slice", x, m.Ints(1), m.Ints(3), m.Ints(1)), m.Ints(0, 1, 0, 0))),
        ["slice-reversed"] = new("Slice", 17, (m, x) => m.Op("Slice", x, m.Ints(-1), m.Ints(long.MinValue), m.Ints(1), m.Ints(-1))),
        ["pad-nonzero"] = new("Pad", 17, (m, x) => m.Op("Slice", m.Op("Pad", x, m.Ints(0, 1, 0, 0)), m.Ints(1), m.Ints(4), m.Ints(1))),
        ["expand-grows"] = new("Expand", 17, (m, x) => m.Op("ReduceMax", [m.Op("Expand", x, m.Ints(2, 2, 3))], Attribute.Int("keepdims", 0), Attribute.Ints("axes", 0))),
        ["tile-twice"] = new("Tile", 17, (m, x) => m.Op("Slice", m.Op("Tile", x, m.Ints(2, 1)), m.Ints(2), m.Ints(4), m.Ints(0))),
        ["concat-two"] = new("Concat", 17, (m, x) => m.Op("Slice", m.Op("Concat", [x, x], Attribute.Int("axis", 0)), m.Ints(1), m.Ints(3), m.Ints(0))),
    };

    public static TheoryData<string> FiringCases() => new(Fires.Keys);
    public static TheoryData<string> NonFiringCases() => new(DoesNotFire.Keys);

    /// <summary>x → Relu (typed [2,3]) → the case → Neg → output, so the node under test is neither first nor last.</summary>
    private static TinyModel Build(Case c)
    {
        var m = new TinyModel(c.Opset);
        var x = m.Input("x", DataType.Float, 2, 3);
        var relu = m.Op("Relu", x);
        relu.Type = new TensorType(DataType.Float, new Shape(2, 3));
        m.Output(m.Op("Neg", c.Build(m, relu)), DataType.Float, 2, 3);
        return m;
    }

    private static Dictionary<string, Tensor> Feeds(TinyModel m)
    {
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats([1.5f, -2, 0, 3.25f, -0.5f, 7], 2, 3) };
        if (m.Graph.Inputs.Any(v => v.Name == "training"))
            feeds["training"] = Tensor.FromRaw(DataType.Bool, [], new byte[] { 0 });
        foreach (var v in m.Graph.Inputs.Where(v => v.IsConstant)) feeds[v.Name!] = v.Const!;
        return feeds;
    }

    [Theory]
    [MemberData(nameof(FiringCases))]
    public void Removes(string name)
    {
        var c = Fires[name];
        var m = Build(c);
        using var before = m.Copy();
        int count = Canon.Count(m.Model, c.Op);

        var (modified, context) = Canon.Run(Pass, m.Model);

        Assert.True(modified);
        Assert.Equal(count - 1, Canon.Count(m.Model, c.Op));
        Assert.Equal(1, Canon.Counter(context, $"removed.{c.Op}"));
        Canon.AssertWellFormed(m.Model);
        NumericAssert.SameOutputs(before, m.Model, Feeds(m), relTol: 0);
        Assert.False(Canon.Run(Pass, m.Model).Modified);
    }

    [Theory]
    [MemberData(nameof(NonFiringCases))]
    public void DoesNotRemove(string name)
    {
        var c = DoesNotFire[name];
        var m = Build(c);
        using var before = m.Copy();
        int nodes = m.Graph.NodeCount;

        var (modified, _) = Canon.Run(Pass, m.Model);

        Assert.False(modified);
        Assert.Equal(nodes, m.Graph.NodeCount);
        // The case is a model ORT accepts, so the pass was shown a valid graph.
        Assert.Single(NumericAssert.Run(before, Feeds(m)));
    }

    [Fact]
    public void RecordedShapes_AreIgnored_WhenNotTrusted()
    {
        var m = Build(Fires["reshape-recorded-shape"]);

        var (modified, _) = Canon.Run(Pass, m.Model, new NoOpEliminationOptions { TrustRecordedShapes = false });

        Assert.False(modified);
    }

    [Fact]
    public void ArithmeticIdentities_AreKept_WhenOff()
    {
        var m = Build(Fires["add-zero"]);

        var (modified, _) = Canon.Run(Pass, m.Model, new NoOpEliminationOptions { ArithmeticIdentities = false });

        Assert.False(modified);
    }

    [Fact]
    public void NoOpProducingAGraphOutput_HandsTheNameToItsInput()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2);
        var r = m.Op("Relu", x);
        m.Output(m.Op("Identity", m.Op("Identity", r)), DataType.Float, 2);
        m.Graph.Outputs[0].Name = "y";
        using var before = m.Copy();

        Canon.Run(Pass, m.Model);

        Assert.Equal(["Relu"], m.Graph.Nodes.Select(n => n.OpType));
        Assert.Same(r, m.Graph.Outputs[0]);
        Assert.Equal("y", r.Name);
        Assert.Equal(new TensorType(DataType.Float, new Shape(2)), r.Type);
        NumericAssert.SameOutputs(before, m.Model, new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats([-1, 1], 2) }, relTol: 0);
    }

    [Fact]
    public void DoesNotFire_WhenGraphInputWouldBecomeAGraphOutput()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2);
        m.Output(m.Op("Identity", x), DataType.Float, 2);

        var (modified, context) = Canon.Run(Pass, m.Model);

        Assert.False(modified);
        Assert.Equal("x", x.Name);
        Assert.Equal(1, Canon.Counter(context, "kept-graph-output"));
    }

    [Fact]
    public void DoesNotFire_WhenInputIsAlreadyAnotherGraphOutput()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2);
        var r = m.Output(m.Op("Relu", x), DataType.Float, 2);
        m.Output(m.Op("Identity", r), DataType.Float, 2);

        var (modified, _) = Canon.Run(Pass, m.Model);

        Assert.False(modified);
        Assert.Equal(2, m.Graph.Outputs.Select(v => v.Name).Distinct().Count());
    }

    /// <summary>
    /// r = Relu(x), s = Identity(r) read only inside an If's then-branch; the branch returns Identity(r2) where r2 is
    /// the outer Relu too (ORT requires a node between an outer value and a branch output).
    /// </summary>
    [Fact]
    public void IdentityReadInsideSubgraph_IsRemoved_ButBranchOutputIdentityStays()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2);
        var cond = m.Input("cond", DataType.Bool);
        var r = m.Op("Relu", x);
        var s = m.Op("Identity", r);
        var ifNode = m.Node("If", [cond]);
        var then = m.Subgraph(ifNode, "then_branch");
        var inner = then.Append(new Node("Mul", [s, s])).Output;
        then.Outputs.Add(then.Append(new Node("Add", [inner, r])).Output);
        var otherwise = m.Subgraph(ifNode, "else_branch");
        otherwise.Outputs.Add(otherwise.Append(new Node("Identity", [r])).Output);
        m.Output(ifNode.Output, DataType.Float, 2);
        using var before = m.Copy();

        var (_, context) = Canon.Run(Pass, m.Model);

        Assert.Equal(1, Canon.Count(m.Model, "Identity"));
        Assert.Single(otherwise.Nodes);
        Assert.Equal(1, Canon.Counter(context, "kept-graph-output"));
        Assert.Same(r, then.FirstNode!.Inputs[0]);
        foreach (bool c in new[] { true, false })
            NumericAssert.SameOutputs(before, m.Model, new Dictionary<string, Tensor>
            {
                ["x"] = Tensor.FromFloats([-1, 3], 2),
                ["cond"] = Tensor.FromRaw(DataType.Bool, [], new byte[] { c ? (byte)1 : (byte)0 }),
            }, relTol: 0);
    }

    [Fact]
    public void ChainOfNoOps_GoesInOneRun_AndSecondRunReportsNoChange()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2, 3);
        var y = m.Op("Relu", x);
        y.Type = new TensorType(DataType.Float, new Shape(2, 3));
        foreach (var c in Fires.Values.Where(c => c.Opset == 17)) y = c.Build(m, y);
        m.Output(m.Op("Neg", y), DataType.Float, 2, 3);
        using var before = m.Copy();

        Assert.True(Canon.Run(Pass, m.Model).Modified);

        Assert.Equal(["Relu", "Shape", "Neg"], m.Graph.Nodes.Select(n => n.OpType));
        Assert.False(Canon.Run(Pass, m.Model).Modified);
        NumericAssert.SameOutputs(before, m.Model, Feeds(m), relTol: 0);
    }
}
