using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Ir.Verification;
using static OnnxQuant.Tests.Ir.SampleModels;

namespace OnnxQuant.Tests.Ir;

/// <summary>The editing API keeps use lists, order and names consistent, and refuses edits that would break them.</summary>
public class GraphMutationTests
{
    private static void AssertValid(Model m) => Verifier.Verify(m).ThrowIfInvalid("in the test");

    private static string Order(Graph g) => string.Join(" ", g.Nodes.Select(n => n.Name ?? n.OpType));

    /// <summary>a, b, c, d: four Relu nodes in a chain (names are the node names).</summary>
    private static Model Chain(out Node[] nodes)
    {
        var b = new GraphBuilder();
        Value v = b.Input("x", DataType.Float, 2);
        foreach (string name in new[] { "a", "b", "c", "d" }) v = b.Op("Relu", [v], name: name);
        b.Output(v, "y");
        var m = b.Build();
        nodes = m.Graph.Nodes.ToArray();
        return m;
    }

    [Fact]
    public void ReplaceInput_MovesTheUseFromOldToNewValue()
    {
        using var m = MatMulRelu();
        var relu = Node(m.Graph, "Relu");
        var y = relu.Inputs[0]!;
        var x = m.Graph.Inputs[0];
        relu.ReplaceInput(0, x);
        Assert.Empty(y.Uses);
        Assert.Contains(new Use(relu, 0), x.Uses);
        Assert.Same(x, relu.Inputs[0]);
        AssertValid(m);
    }

    [Fact]
    public void ReplaceAllUsesWith_RewiresNodesInSubgraphsToo()
    {
        using var m = IfReadingOuterValue();
        var a = Node(m.Graph, "Add").Output;
        var x = m.Graph.Inputs[1];
        int changed = a.ReplaceAllUsesWith(x);
        Assert.Equal(2, changed);
        Assert.Empty(a.Uses);
        Assert.Same(x, Node(Branch(m.Graph, "then_branch"), "Neg").Inputs[0]);
        Assert.Same(x, Node(Branch(m.Graph, "else_branch"), "Abs").Inputs[0]);
        m.Graph.Remove(Node(m.Graph, "Add"));
        AssertValid(m);
    }

    [Fact]
    public void ReplaceAllUsesWith_GraphOutputKeepsItsName()
    {
        using var m = MatMulRelu();
        var relu = Node(m.Graph, "Relu");
        var z = relu.Output;
        var neg = m.Graph.InsertAfter(relu, new Node("Neg", [z]));
        string negName = neg.Output.Name!;
        z.ReplaceAllUsesWith(neg.Output);
        neg.ReplaceInput(0, z); // RAUW also rewired neg itself
        Assert.Same(neg.Output, m.Graph.Outputs[0]);
        Assert.Equal("z", neg.Output.Name);
        Assert.Equal(negName, z.Name); // the names swapped: still unique
        AssertValid(m);
    }

    [Fact]
    public void ReplaceAllUsesWith_UnnamedReplacement_LeavesOldValueNamed()
    {
        using var m = MatMulRelu();
        var relu = Node(m.Graph, "Relu");
        var z = relu.Output;
        var neg = new Node("Neg", [relu.Inputs[0]]);
        z.ReplaceAllUsesWith(neg.Output);
        Assert.Equal("z", neg.Output.Name);
        Assert.False(string.IsNullOrEmpty(z.Name));
        m.Graph.InsertAfter(relu, neg);
        AssertValid(m); // relu is dead but still named
        m.Graph.Remove(relu);
        AssertValid(m);
    }

    [Fact]
    public void ReplaceAllUsesWith_ReplacesSubgraphOutputsListingTheValue()
    {
        using var m = IfReadingOuterValue();
        var then = Branch(m.Graph, "then_branch");
        var add = Node(m.Graph, "Add");
        then.Outputs[0] = add.Output; // a branch may output an outer value directly
        then.Remove(Node(then, "Neg"));
        var x = m.Graph.Inputs[1];
        add.Output.ReplaceAllUsesWith(x);
        Assert.Same(x, then.Outputs[0]);
        m.Graph.Remove(add);
        AssertValid(m);
    }

    [Fact]
    public void InsertBeforeAndAfter_PlaceNodesAroundTheAnchor()
    {
        using var m = Chain(out var n);
        m.Graph.InsertBefore(n[1], new Node("Relu", [n[0].Output], name: "p"));
        m.Graph.InsertAfter(n[1], new Node("Relu", [n[1].Output], name: "q"));
        m.Graph.InsertAfter(null, new Node("Relu", [m.Graph.Inputs[0]], name: "first"));
        m.Graph.Append(new Node("Relu", [n[3].Output], name: "last"));
        Assert.Equal("first a p b q c d last", Order(m.Graph));
        Assert.Equal(8, m.Graph.NodeCount);
        AssertValid(m);
        Assert.Throws<InvalidOperationException>(() => m.Graph.Append(n[0])); // already in a graph
    }

    [Fact]
    public void Remove_RefusesNodeWhoseOutputIsUsed()
    {
        using var m = Chain(out var n);
        var e = Assert.Throws<InvalidOperationException>(() => m.Graph.Remove(n[1]));
        Assert.Contains("still used", e.Message);
        Assert.Equal(4, m.Graph.NodeCount);
        AssertValid(m);
    }

    [Fact]
    public void Remove_RefusesNodeProducingAGraphOutput()
    {
        using var m = Chain(out var n);
        var e = Assert.Throws<InvalidOperationException>(() => m.Graph.Remove(n[3]));
        Assert.Contains("graph output", e.Message);
        AssertValid(m);
    }

    [Fact]
    public void Remove_RefusesNodeWhoseOutputASubgraphOutputs()
    {
        using var m = IfReadingOuterValue();
        var then = Branch(m.Graph, "then_branch");
        var add = Node(m.Graph, "Add");
        then.Outputs[0] = add.Output;
        then.Remove(Node(then, "Neg"));
        add.Output.ReplaceAllUsesWith(m.Graph.Inputs[1]);
        then.Outputs[0] = add.Output; // listed again, without any node use
        Assert.True(add.Output.IsAnyGraphOutput);
        Assert.Throws<InvalidOperationException>(() => m.Graph.Remove(add));
    }

    [Fact]
    public void Remove_OfNodeWithSubgraphs_ReleasesTheOuterValuesTheyRead()
    {
        using var m = IfReadingOuterValue();
        var ifNode = Node(m.Graph, "If");
        var a = Node(m.Graph, "Add").Output;
        m.Graph.Outputs.Clear();
        m.Graph.Outputs.Add(a);
        m.Graph.Remove(ifNode);
        Assert.Empty(a.Uses);
        AssertValid(m);
    }

    [Fact]
    public void RemoveConstant_RefusesUsedConstant_AndRemovesUnusedOne()
    {
        using var m = MatMulRelu();
        var w = m.Graph.Constants[0];
        Assert.Throws<InvalidOperationException>(() => m.Graph.RemoveConstant(w));
        var spare = m.Graph.AddConstant(Tensor.Scalar(2f), "spare");
        m.Graph.RemoveConstant(spare);
        Assert.DoesNotContain(spare, m.Graph.Constants);
        Assert.Null(spare.Graph);
        AssertValid(m);
    }

    [Fact]
    public void MoveBefore_RefusesNodesOfAnotherGraph()
    {
        using var m = IfReadingOuterValue();
        var neg = Node(Branch(m.Graph, "then_branch"), "Neg");
        Assert.Throws<InvalidOperationException>(() => m.Graph.MoveBefore(Node(m.Graph, "Add"), neg));
        Assert.Throws<InvalidOperationException>(() => m.Graph.MoveBefore(neg, Node(m.Graph, "Add")));
        AssertValid(m);
    }

    [Fact]
    public void Iteration_SkipsRemovedNodes_AndVisitsNodesInsertedAfterTheCurrentOne()
    {
        using var m = Chain(out var n);
        var visited = new List<string>();
        foreach (var node in m.Graph.Nodes)
        {
            visited.Add(node.Name ?? node.OpType);
            if (node == n[0])
                m.Graph.InsertAfter(node, new Node("Relu", [node.Output], name: "after_a"));
            if (node == n[1])
            {
                m.Graph.InsertBefore(node, new Node("Relu", [n[0].Output], name: "before_b"));
                n[1].Output.ReplaceAllUsesWith(n[0].Output);
                m.Graph.Remove(node);
            }
        }
        Assert.Equal("a after_a b c d", string.Join(" ", visited));
        Assert.Equal("a after_a before_b c d", Order(m.Graph));
        AssertValid(m);
    }

    [Fact]
    public void Iteration_GoesOn_WhenTheCurrentAndFollowingNodesAreRemovedTogether()
    {
        using var m = Chain(out var n);
        var visited = new List<string>();
        foreach (var node in m.Graph.Nodes)
        {
            visited.Add(node.Name!);
            if (node != n[0]) continue;
            // Fuse-like edit at a: d reads x, then a, b, c go.
            n[3].ReplaceInput(0, m.Graph.Inputs[0]);
            m.Graph.Remove(n[2]);
            m.Graph.Remove(n[1]);
            m.Graph.Remove(n[0]);
        }
        Assert.Equal("a d", string.Join(" ", visited));
        Assert.Equal("d", Order(m.Graph));
        AssertValid(m);
    }

    [Fact]
    public void Iteration_VisitsTheReplacement_WhenTheCurrentNodeIsReplaced()
    {
        using var m = Chain(out var n);
        var visited = new List<string>();
        foreach (var node in m.Graph.Nodes)
        {
            visited.Add(node.Name!);
            if (node != n[1]) continue;
            var replacement = m.Graph.InsertAfter(node, new Node("Neg", [n[0].Output], name: "b2"));
            node.Output.ReplaceAllUsesWith(replacement.Output);
            m.Graph.Remove(node);
        }
        Assert.Equal("a b b2 c d", string.Join(" ", visited));
        AssertValid(m);
    }

    [Fact]
    public void SortTopologically_RestoresOrder_AndIsStable()
    {
        using var m = Chain(out var n);
        // Independent nodes reading x: their relative order must survive the sort.
        var x = m.Graph.Inputs[0];
        var p = m.Graph.Append(new Node("Neg", [x], name: "p"));
        var q = m.Graph.Append(new Node("Abs", [x], name: "q"));
        m.Graph.MoveBefore(n[0], n[2]);
        m.Graph.MoveBefore(n[0], n[3]);
        Assert.Equal("c d a b p q", Order(m.Graph));
        Assert.False(Verifier.Verify(m).IsValid);
        m.Graph.SortTopologically();
        Assert.Equal("a b c d p q", Order(m.Graph));
        AssertValid(m);
        Assert.Equal(6, m.Graph.NodeCount);
        Assert.Same(q, m.Graph.LastNode);
        Assert.Same(n[0], m.Graph.FirstNode);
        _ = p;
    }

    [Fact]
    public void SortTopologically_CountsReadsInsideSubgraphsAsReadsOfTheOwner()
    {
        using var m = IfReadingOuterValue();
        m.Graph.MoveBefore(Node(m.Graph, "Add"), Node(m.Graph, "If"));
        Assert.False(Verifier.Verify(m).IsValid);
        m.Graph.SortTopologically();
        Assert.Equal("Add If", Order(m.Graph));
        AssertValid(m);
    }

    [Fact]
    public void SortTopologically_ThrowsOnACycle()
    {
        using var m = Chain(out var n);
        n[0].ReplaceInput(0, n[2].Output);
        var e = Assert.Throws<InvalidOperationException>(() => m.Graph.SortTopologically());
        Assert.Contains("cycle", e.Message);
        Assert.Equal("a b c d", Order(m.Graph)); // left as it was
    }

    [Fact]
    public void FreshName_IsUniqueAcrossGraphAndSubgraphs()
    {
        using var m = IfReadingOuterValue();
        var taken = m.AllGraphs().SelectMany(g => g.Inputs.Concat(g.Constants).Concat(g.Nodes.SelectMany(n => n.Outputs)))
            .Select(v => v!.Name!).ToHashSet();
        var fresh = Enumerable.Range(0, 20).Select(_ => m.Graph.FreshName("Neg"))
            .Concat(Enumerable.Range(0, 20).Select(_ => Branch(m.Graph, "then_branch").FreshName("Add"))).ToList();
        Assert.Equal(fresh.Count, fresh.Distinct().Count());
        Assert.All(fresh, name => Assert.DoesNotContain(name, taken));
    }

    [Fact]
    public void AttachingASubgraphBuiltApart_GivesItsClashingValuesFreshNames()
    {
        using var m = MatMulRelu();
        var x = m.Graph.Inputs[0];
        // Built on its own, this graph names its values in a scope of its own: "x" and "Relu_0" clash with the model.
        var body = new Graph { Name = "body" };
        var inner = body.Append(new Node("Relu", [x], outputNames: ["x"]));
        var second = body.Append(new Node("Relu", [inner.Output]));
        body.Outputs.Add(second.Output);
        var cond = m.Graph.AddInput("cond", new TensorType(DataType.Bool, new Shape()));
        m.Graph.Append(new Node("If", [cond], attributes: [Attribute.FromGraph("then_branch", body)]));
        Assert.NotEqual("x", inner.Output.Name);
        Assert.DoesNotContain(m.Graph.FreshName("Relu"), new[] { inner.Output.Name, second.Output.Name });
        var report = Verifier.Verify(m);
        Assert.DoesNotContain(report.Issues, i => i.Kind == VerifierIssueKind.DuplicateName);
    }

    [Fact]
    public void AddInputAndAddConstant_KeepFreeNames_AndMakeTakenOnesUnique()
    {
        using var m = MatMulRelu();
        var w2 = m.Graph.AddConstant(Tensor.Scalar(1f), "w2");
        var w = m.Graph.AddConstant(Tensor.Scalar(1f), "w");
        var x = m.Graph.AddInput("x", new TensorType(DataType.Float));
        var fresh = m.Graph.AddInput("fresh", null);
        Assert.Equal("w2", w2.Name);
        Assert.Equal("fresh", fresh.Name);
        Assert.NotEqual("w", w.Name);
        Assert.NotEqual("x", x.Name);
        AssertValid(m);
    }

    [Fact]
    public void SharedConstant_UsedByTwoNodes_StaysOneValue()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DataType.Float, 2);
        var k = b.Constant(Tensor.FromFloats([2, 3], 2), "k");
        b.Output(b.Op("Mul", x, k), "p");
        b.Output(b.Op("Add", x, k), "s");
        using var m = b.Build();
        Assert.Single(m.Graph.Constants);
        Assert.Equal(2, k.Uses.Count);
        Assert.Throws<InvalidOperationException>(() => m.Graph.RemoveConstant(k));

        using var again = OnnxReader.Read(OnnxWriter.ToBytes(m));
        var shared = Assert.Single(again.Graph.Constants);
        Assert.Equal(new[] { "Mul", "Add" }, shared.Uses.Select(u => u.Node.OpType));
        AssertValid(again);
    }
}
