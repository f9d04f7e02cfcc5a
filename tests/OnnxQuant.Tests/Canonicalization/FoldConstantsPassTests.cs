using OnnxQuant.Ir;
using OnnxQuant.Passes.Canonicalization;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Canonicalization;

public class FoldConstantsPassTests
{
    private static readonly FoldConstantsPass Pass = new();

    private static Dictionary<string, Tensor> X(Tensor x) => new() { ["x"] = x };

    private static Tensor Ramp(params long[] dims)
    {
        int n = (int)dims.Aggregate(1L, (a, b) => a * b);
        return Tensor.FromFloats(Enumerable.Range(0, n).Select(i => (i % 7 - 3) * 0.37f).ToArray(), dims);
    }

    [Fact]
    public void FoldsChainOfConstantArithmetic_WithIdenticalOutputs()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 3);
        var folded = m.Op("Mul", m.Op("Add", m.Const(1, 2, 3), m.Const(0.5f, 0.25f, 0.125f)), m.Const(3));
        folded = m.Op("Sqrt", m.Op("Exp", folded));
        m.Output(m.Op("Add", x, folded), DataType.Float, 3);
        using var before = m.Copy();

        var (modified, context) = Canon.Run(Pass, m.Model);

        Assert.True(modified);
        Assert.Equal(["Add"], m.Graph.Nodes.Select(n => n.OpType));
        Assert.Single(m.Graph.Constants);
        Assert.Equal(4, Canon.Counter(context, "folded"));
        // The three operands and the three intermediate results.
        Assert.Equal(6, Canon.Counter(context, "constants-removed"));
        Canon.AssertWellFormed(m.Model);
        NumericAssert.SameOutputs(before, m.Model, X(Tensor.FromFloats([1, 2, 3], 3)), relTol: 0);
    }

    [Fact]
    public void FoldsShapeGatherConcatReshape_OnceTheShapeIsKnown()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2, 3, 4);
        var shape = m.Op("Shape", x);
        var batch = m.Op("Gather", [shape, m.Ints(0)], Attribute.Int("axis", 0));
        var target = m.Op("Concat", [batch, m.Ints(-1)], Attribute.Int("axis", 0));
        m.Output(m.Op("Reshape", x, target), DataType.Float, 2, 12);
        using var before = m.Copy();

        var (_, context) = Canon.Run(Pass, m.Model);

        Assert.Equal(["Reshape"], m.Graph.Nodes.Select(n => n.OpType));
        Assert.Equal([2L, -1], m.Graph.Nodes.Single().Inputs[1]!.Const!.AsSpan<long>().ToArray());
        Assert.Equal(1, Canon.Counter(context, "shapes-folded"));
        NumericAssert.SameOutputs(before, m.Model, X(Ramp(2, 3, 4)), relTol: 0);
    }

    [Fact]
    public void FoldsShapeSlice_WhoseDimensionsAreKnown_AndNotTheOthers()
    {
        var m = new TinyModel(opset: 17);
        var x = m.Input("x", DataType.Float, new Shape([Dim.Symbolic("batch"), 3, 4]));
        var tail = m.Node("Shape", [x], 1, Attribute.Int("start", 1)).Output;
        var all = m.Op("Shape", x);
        var last = m.Node("Shape", [x], 1, Attribute.Int("start", -1), Attribute.Int("end", 100)).Output;
        m.Output(m.Op("Concat", [tail, all, last], Attribute.Int("axis", 0)), DataType.Int64, 6);
        using var before = m.Copy();

        var (_, context) = Canon.Run(Pass, m.Model);

        Assert.Equal(2, Canon.Counter(context, "shapes-folded"));
        Assert.Equal(1, Canon.Count(m.Model, "Shape"));
        Assert.Empty(m.Graph.Nodes.Single(n => n.OpType == "Shape").Attributes);
        NumericAssert.SameOutputs(before, m.Model, X(Ramp(5, 3, 4)), relTol: 0);
    }

    [Fact]
    public void FoldsSize_AndEveryOutputOfAMultiOutputNode()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2);
        var split = m.Node("Split", [m.Const(1, 2, 3, 4, 5, 6), m.Ints(2, 4)], 2, Attribute.Int("axis", 0));
        var size = m.Op("Cast", [m.Op("Size", x)], Attribute.Int("to", (long)DataType.Float));
        m.Output(m.Op("Mul", m.Op("Add", x, split.Outputs[0]!), size), DataType.Float, 2);
        m.Output(split.Outputs[1]!, DataType.Float, 4);
        using var before = m.Copy();

        Canon.Run(Pass, m.Model);

        Assert.Equal(["Add", "Mul"], m.Graph.Nodes.Select(n => n.OpType));
        Assert.True(m.Graph.Outputs[1].IsConstant);
        NumericAssert.SameOutputs(before, m.Model, X(Ramp(2)), relTol: 0);
    }

    [Fact]
    public void FoldedGraphOutput_BecomesAConstantUnderTheOutputName()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2);
        m.Output(m.Op("Neg", x), DataType.Float, 2);
        var y = m.Output(m.Op("Add", m.Const(1, 2), m.Const(3, 4)), DataType.Float, 2);
        y.Name = "sum";
        using var before = m.Copy();

        Canon.Run(Pass, m.Model);

        Assert.Equal("sum", m.Graph.Outputs[1].Name);
        Assert.Equal([4f, 6f], m.Graph.Outputs[1].Const!.AsSpan<float>().ToArray());
        NumericAssert.SameOutputs(before, m.Model, X(Ramp(2)), relTol: 0);
    }

    [Fact]
    public void KeepsAConstantSharedWithANodeThatDoesNotFold()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2);
        var shared = m.Const(1, 2);
        var folded = m.Op("Neg", shared);
        m.Output(m.Op("Add", m.Op("Mul", x, shared), folded), DataType.Float, 2);

        Canon.Run(Pass, m.Model);

        Assert.Contains(shared, m.Graph.Constants);
        Assert.Equal(2, m.Graph.Constants.Count);
    }

    [Fact]
    public void DoesNotFold_InitializerThatCallersMayOverride()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2);
        var overridable = m.Const(1, 2);
        m.Graph.Inputs.Add(overridable);
        m.Output(m.Op("Add", x, m.Op("Neg", overridable)), DataType.Float, 2);

        var (modified, _) = Canon.Run(Pass, m.Model);

        Assert.False(modified);
        Assert.Equal(2, m.Graph.NodeCount);
    }

    [Fact]
    public void DoesNotFold_NonDeterministicOps_OrDequantizeLinear()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2);
        var noise = m.Node("RandomNormalLike", [m.Const(0, 0)], 1, Attribute.Int("seed", 0)).Output;
        var w = m.Op("DequantizeLinear", m.Const(Tensor.FromRaw(DataType.Int8, [2], new byte[] { 3, 250 })), m.Const(Tensor.Scalar(0.5f)));
        m.Output(m.Op("Add", m.Op("Add", x, noise), w), DataType.Float, 2);

        var (modified, _) = Canon.Run(Pass, m.Model);

        Assert.False(modified);
        Assert.Equal(1, Canon.Count(m.Model, "DequantizeLinear"));

        Assert.True(Canon.Run(Pass, m.Model, new FoldConstantsOptions { FoldDequantizeLinear = true }).Modified);
        Assert.Equal(0, Canon.Count(m.Model, "DequantizeLinear"));
        Assert.Equal(1, Canon.Count(m.Model, "RandomNormalLike"));
    }

    [Fact]
    public void DoesNotFold_OutputsOverTheSizeLimits()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 1);
        var huge = m.Op("ConstantOfShape", m.Ints(1024, 1024));
        var grown = m.Op("ConstantOfShape", m.Ints(64, 64));
        var sum = m.Op("Add", m.Op("ReduceSum", huge), m.Op("ReduceSum", grown));
        m.Output(m.Op("Add", x, sum), DataType.Float, 1);

        var (_, context) = Canon.Run(Pass, m.Model);

        // 4 MiB is over the limit; 16 KiB from 16 bytes of operands would grow the model.
        Assert.Equal(2, Canon.Count(m.Model, "ConstantOfShape"));
        Assert.Equal(2, Canon.Counter(context, "too-large"));
        Assert.Equal(0, Canon.Counter(context, "evaluated"));

        Canon.Run(Pass, m.Model, new FoldConstantsOptions { SmallOutputBytes = 1 << 16 });
        Assert.Equal(1, Canon.Count(m.Model, "ConstantOfShape"));
    }

    [Fact]
    public void EvaluatesIdenticalNodesOnce()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 3);
        var a = m.Op("Softmax", m.Const(1, 2, 3));
        var b = m.Op("Softmax", m.Const(1, 2, 3));
        var c = m.Node("Softmax", [m.Const(1, 2, 3)], 1, Attribute.Int("axis", 0)).Output;
        m.Output(m.Op("Sum", x, a, b, c), DataType.Float, 3);
        using var before = m.Copy();

        var (_, context) = Canon.Run(Pass, m.Model);

        // axis=0 is Softmax's default at opset 13+, but the attributes differ, so that node is evaluated on its own.
        Assert.Equal(2, Canon.Counter(context, "evaluated"));
        Assert.Equal(1, Canon.Counter(context, "cache-hits"));
        Assert.Equal(3, Canon.Counter(context, "folded"));
        NumericAssert.SameOutputs(before, m.Model, X(Ramp(3)), relTol: 0);
    }

    [Fact]
    public void FoldsInsideSubgraphs_IntoConstantsOfThatSubgraph()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2);
        var cond = m.Input("cond", DataType.Bool);
        var outer = m.Const(1, 4);
        var ifNode = m.Node("If", [cond]);
        var then = m.Subgraph(ifNode, "then_branch");
        var sqrt = then.Append(new Node("Sqrt", [outer])).Output;
        then.Outputs.Add(then.Append(new Node("Add", [x, sqrt])).Output);
        var otherwise = m.Subgraph(ifNode, "else_branch");
        otherwise.Outputs.Add(otherwise.Append(new Node("Sub", [x, outer])).Output);
        m.Output(ifNode.Output, DataType.Float, 2);
        using var before = m.Copy();

        Canon.Run(Pass, m.Model);

        Assert.Equal(["Add"], then.Nodes.Select(n => n.OpType));
        Assert.Single(then.Constants);
        // The outer constant is still read by the else-branch.
        Assert.Contains(outer, m.Graph.Constants);
        foreach (bool c in new[] { true, false })
            NumericAssert.SameOutputs(before, m.Model, new Dictionary<string, Tensor>
            {
                ["x"] = Tensor.FromFloats([5, 6], 2),
                ["cond"] = Tensor.FromRaw(DataType.Bool, [], new byte[] { c ? (byte)1 : (byte)0 }),
            }, relTol: 0);
    }

    [Fact]
    public void DoesNotFold_NodesWithSubgraphs()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2);
        var ifNode = m.Node("If", [m.Const(Tensor.FromRaw(DataType.Bool, [], new byte[] { 1 }))]);
        m.Subgraph(ifNode, "then_branch").Outputs.Add(ifNode.GetAttribute("then_branch")!.AsGraph().Append(new Node("Identity", [x])).Output);
        m.Subgraph(ifNode, "else_branch").Outputs.Add(ifNode.GetAttribute("else_branch")!.AsGraph().Append(new Node("Neg", [x])).Output);
        m.Output(ifNode.Output, DataType.Float, 2);

        var (modified, _) = Canon.Run(Pass, m.Model);

        Assert.False(modified);
    }

    [Fact]
    public void SecondRun_ReportsNoChange()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2, 3);
        var target = m.Op("Concat", [m.Op("Shape", x), m.Ints(1)], Attribute.Int("axis", 0));
        var y = m.Op("Reshape", x, target);
        m.Output(m.Op("Add", y, m.Op("ConstantOfShape", m.Ints(2048))), DataType.Float, 2, 3, 2048);
        Assert.True(Canon.Run(Pass, m.Model).Modified);

        var (modified, _) = Canon.Run(Pass, m.Model);

        Assert.False(modified);
    }
}
