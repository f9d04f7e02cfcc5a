using OnnxQuant.Ir;
using OnnxQuant.Passes.Canonicalization;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Canonicalization;

public class DeadCodeEliminationPassTests
{
    private static readonly DeadCodeEliminationPass Pass = new();

    private static Dictionary<string, Tensor> Feeds(params (string Name, Tensor Value)[] feeds) =>
        feeds.ToDictionary(f => f.Name, f => f.Value);

    private static Tensor Bool(bool value) => Tensor.FromRaw(DataType.Bool, [], new byte[] { value ? (byte)1 : (byte)0 });

    [Fact]
    public void RemovesUnusedChainAndItsConstants_WithIdenticalOutputs()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 4);
        var dead = m.Op("Add", x, m.Const(1, 2, 3, 4));
        dead = m.Op("Mul", m.Op("Relu", dead), m.Const(2, 2, 2, 2));
        m.Op("Sigmoid", dead);
        m.Const(9, 9);
        m.Output(m.Op("Neg", x), DataType.Float, 4);
        using var before = m.Copy();

        var (modified, context) = Canon.Run(Pass, m.Model);

        Assert.True(modified);
        Assert.Equal(["Neg"], m.Graph.Nodes.Select(n => n.OpType));
        Assert.Empty(m.Graph.Constants);
        Assert.Equal(4, Canon.Counter(context, "nodes-removed"));
        Assert.Equal(3, Canon.Counter(context, "constants-removed"));
        Canon.AssertWellFormed(m.Model);
        NumericAssert.SameOutputs(before, m.Model, Feeds(("x", Tensor.FromFloats([1, -2, 3, -4], 4))), relTol: 0);
    }

    [Fact]
    public void DoesNotRemove_ConstantSharedWithALiveNode()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2);
        var shared = m.Const(5, 6);
        m.Op("Mul", x, shared);
        m.Output(m.Op("Add", x, shared), DataType.Float, 2);

        Canon.Run(Pass, m.Model);

        Assert.Equal(["Add"], m.Graph.Nodes.Select(n => n.OpType));
        Assert.Same(shared, Assert.Single(m.Graph.Constants));
    }

    [Fact]
    public void DoesNotRemove_NodeWhoseOnlyOutputIsAGraphOutput()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2);
        m.Output(m.Op("Relu", x), DataType.Float, 2);
        m.Output(m.Op("Neg", x), DataType.Float, 2);

        var (modified, _) = Canon.Run(Pass, m.Model);

        Assert.False(modified);
        Assert.Equal(2, m.Graph.NodeCount);
    }

    /// <summary>p = Relu(x) read only by the then-branch of an If (which returns p + 1, or p itself).</summary>
    private static (TinyModel Model, Node If) ValueReadInsideSubgraph(bool returnOuterValueDirectly, bool useIf = true)
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2);
        var cond = m.Input("cond", DataType.Bool);
        var p = m.Op("Relu", x);
        var ifNode = m.Node("If", [cond]);
        var then = m.Subgraph(ifNode, "then_branch");
        if (returnOuterValueDirectly) then.Outputs.Add(p);
        else
        {
            var one = then.AddConstant(Tensor.FromFloats([1], 1));
            then.Outputs.Add(then.Append(new Node("Add", [p, one])).Output);
        }
        var otherwise = m.Subgraph(ifNode, "else_branch");
        otherwise.Outputs.Add(otherwise.Append(new Node("Neg", [x])).Output);
        if (useIf) m.Output(ifNode.Output, DataType.Float, 2);
        else m.Output(m.Op("Sigmoid", x), DataType.Float, 2);
        return (m, ifNode);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DoesNotRemove_ValueReadOnlyInsideASubgraph(bool returnedDirectly)
    {
        var (m, _) = ValueReadInsideSubgraph(returnedDirectly);
        using var before = m.Copy();

        var (modified, _) = Canon.Run(Pass, m.Model);

        Assert.False(modified);
        Assert.Equal(1, Canon.Count(m.Model, "Relu"));
        // ORT refuses a branch that returns an outer value directly (valid ONNX), so only the other form runs.
        if (returnedDirectly) return;
        foreach (bool cond in new[] { true, false })
            NumericAssert.SameOutputs(before, m.Model, Feeds(("x", Tensor.FromFloats([-1, 2], 2)), ("cond", Bool(cond))), relTol: 0);
    }

    [Fact]
    public void RemovesUnusedIf_AndWhatOnlyItsBranchesRead()
    {
        var (m, _) = ValueReadInsideSubgraph(returnOuterValueDirectly: false, useIf: false);
        using var before = m.Copy();

        Canon.Run(Pass, m.Model);

        Assert.Equal(["Sigmoid"], m.Graph.Nodes.Select(n => n.OpType));
        // The Relu's and x's use lists hold nothing from the removed branches.
        Assert.Single(m.Graph.Inputs[0].Uses);
        Canon.AssertWellFormed(m.Model);
        NumericAssert.SameOutputs(before, m.Model, Feeds(("x", Tensor.FromFloats([-1, 2], 2)), ("cond", Bool(true))), relTol: 0);
    }

    [Fact]
    public void RemovesDeadNodesInsideALiveSubgraph()
    {
        var (m, ifNode) = ValueReadInsideSubgraph(returnOuterValueDirectly: false);
        var then = ifNode.GetAttribute("then_branch")!.AsGraph();
        then.Append(new Node("Exp", [m.Graph.Inputs[0]]));

        Canon.Run(Pass, m.Model);

        Assert.Equal(["Add"], then.Nodes.Select(n => n.OpType));
        Assert.Equal(2, m.Graph.Inputs[0].Uses.Count);
    }

    [Fact]
    public void KeepsUnusedInputs_UnlessAsked()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2);
        m.Input("unused", DataType.Float, 2);
        var overridable = m.Const(1, 1);
        m.Graph.Inputs.Add(overridable);
        m.Output(m.Op("Neg", x), DataType.Float, 2);
        using var before = m.Copy();

        var (kept, _) = Canon.Run(Pass, m.Model);
        Assert.False(kept);
        Assert.Equal(3, m.Graph.Inputs.Count);

        var (removed, context) = Canon.Run(Pass, m.Model, new DeadCodeEliminationOptions { RemoveUnusedInputs = true });
        Assert.True(removed);
        Assert.Equal(["x"], m.Graph.Inputs.Select(v => v.Name));
        Assert.Empty(m.Graph.Constants);
        Assert.Equal(2, Canon.Counter(context, "inputs-removed"));
        NumericAssert.SameOutputs(before, m.Model,
            Feeds(("x", Tensor.FromFloats([1, 2], 2)), ("unused", Tensor.FromFloats([0, 0], 2))), relTol: 0);
    }

    private static Function AddOneFunction(string name, string? calls = null)
    {
        var body = new Graph { Name = name };
        var a = body.AddInput("a", null);
        var one = body.Append(new Node("Constant", [], attributes: [Attribute.Float("value_float", 1)])).Output;
        var y = body.Append(new Node("Add", [a, one])).Output;
        if (calls is not null) y = body.Append(new Node(calls, [y], domain: "test.fn")).Output;
        body.Append(new Node("Neg", [a]));
        body.Outputs.Add(y);
        var f = new Function(name, "test.fn", body);
        f.OpsetImports.Add(new OpsetImport("", 17));
        f.OpsetImports.Add(new OpsetImport("test.fn", 1));
        return f;
    }

    [Fact]
    public void RemovesFunctionsNoNodeCalls_KeepsThoseCalledThroughOtherFunctions()
    {
        var m = new TinyModel();
        m.Model.OpsetImports.Add(new OpsetImport("test.fn", 1));
        m.Model.Functions.Add(AddOneFunction("Inner"));
        m.Model.Functions.Add(AddOneFunction("Outer", calls: "Inner"));
        m.Model.Functions.Add(AddOneFunction("Unused"));
        var x = m.Input("x", DataType.Float, 2);
        m.Output(m.Graph.Append(new Node("Outer", [x], domain: "test.fn")).Output, DataType.Float, 2);
        using var before = m.Copy();

        var (_, context) = Canon.Run(Pass, m.Model);

        Assert.Equal(["Inner", "Outer"], m.Model.Functions.Select(f => f.Name));
        Assert.Equal(1, Canon.Counter(context, "functions-removed"));
        // The dead Neg inside each remaining body is gone; the bodies' outputs stay.
        Assert.Equal(0, Canon.Count(m.Model, "Neg"));
        NumericAssert.SameOutputs(before, m.Model, Feeds(("x", Tensor.FromFloats([1, 2], 2))), relTol: 0);
    }

    [Fact]
    public void KeepsUnusedCustomDomainNodes_WhenAsked()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 2);
        m.Graph.Append(new Node("Log", [x], domain: "com.example"));
        m.Op("Relu", x);
        m.Output(m.Op("Neg", x), DataType.Float, 2);

        Canon.Run(Pass, m.Model, new DeadCodeEliminationOptions { KeepCustomDomainNodes = true });

        Assert.Equal(["Log", "Neg"], m.Graph.Nodes.Select(n => n.OpType));
        Canon.Run(Pass, m.Model);
        Assert.Equal(["Neg"], m.Graph.Nodes.Select(n => n.OpType));
    }

    [Fact]
    public void SecondRun_ReportsNoChange()
    {
        var (m, ifNode) = ValueReadInsideSubgraph(returnOuterValueDirectly: false);
        m.Op("Relu", m.Op("Exp", m.Graph.Inputs[0]));
        ifNode.GetAttribute("then_branch")!.AsGraph().Append(new Node("Exp", [m.Graph.Inputs[0]]));
        Assert.True(Canon.Run(Pass, m.Model).Modified);

        var (modified, _) = Canon.Run(Pass, m.Model);

        Assert.False(modified);
    }
}
