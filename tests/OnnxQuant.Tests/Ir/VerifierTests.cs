using OnnxQuant.Ir;
using OnnxQuant.Ir.Verification;
using static OnnxQuant.Tests.Ir.SampleModels;

namespace OnnxQuant.Tests.Ir;

/// <summary>Each invariant broken on purpose (through internal setters where the public API keeps it) is reported.</summary>
public class VerifierTests
{
    /// <summary>Asserts that the report holds issues of exactly <paramref name="kind"/>, and returns the first.</summary>
    private static VerifierIssue AssertOnly(VerifierReport report, VerifierIssueKind kind)
    {
        Assert.False(report.IsValid);
        Assert.All(report.Issues, i => Assert.Equal(kind, i.Kind));
        return report.Issues[0];
    }

    [Fact]
    public void ValidModels_HaveNoIssues()
    {
        using var chain = MatMulRelu();
        using var branches = IfReadingOuterValue();
        Assert.Empty(Verifier.Verify(chain).Issues);
        Assert.Empty(Verifier.Verify(branches).Issues);
        Assert.True(Verifier.Verify(Branch(branches.Graph, "then_branch")).IsValid);
    }

    [Fact]
    public void ReportsNodeGraphMismatch_WhenNodeGraphPointsElsewhere()
    {
        using var m = MatMulRelu();
        var relu = Node(m.Graph, "Relu");
        relu.Graph = new Graph();
        var issue = AssertOnly(Verifier.Verify(m), VerifierIssueKind.NodeGraphMismatch);
        Assert.Same(relu, issue.Node);
        Assert.Contains("Relu", issue.Message);
        Assert.Equal("graph 'main'", issue.Where);
    }

    [Fact]
    public void ReportsNodeListCorrupt_WhenLinksDisagree()
    {
        using var m = MatMulRelu();
        Node(m.Graph, "Relu").Prev = null;
        AssertOnly(Verifier.Verify(m), VerifierIssueKind.NodeListCorrupt);
    }

    [Fact]
    public void ReportsSubgraphOwnerMismatch_WhenOwnerNodeIsNotTheHolder()
    {
        using var m = IfReadingOuterValue();
        Branch(m.Graph, "else_branch").OwnerNode = Node(m.Graph, "Add");
        var issue = AssertOnly(Verifier.Verify(m), VerifierIssueKind.SubgraphOwnerMismatch);
        Assert.Equal("graph 'main' / If .else_branch", issue.Where);
    }

    [Fact]
    public void ReportsSubgraphOwnerMismatch_WhenTwoAttributesHoldOneGraph()
    {
        using var m = IfReadingOuterValue();
        var node = Node(m.Graph, "If");
        var dropped = Branch(m.Graph, "else_branch");
        node.SetAttribute(Attribute.FromGraph("else_branch", Branch(m.Graph, "then_branch")));
        var report = Verifier.Verify(m);
        Assert.True(report.Has(VerifierIssueKind.SubgraphOwnerMismatch));
        // The replaced branch is released but its node still reads the outer value until someone empties it.
        Assert.Null(dropped.OwnerNode);
        Assert.Contains(report.Issues, i => i.Kind == VerifierIssueKind.UseByDetachedNode && i.Node == Node(dropped, "Abs"));
    }

    [Fact]
    public void ReportsProducerMismatch_WhenOutputIndexIsWrong()
    {
        using var m = MatMulRelu();
        var y = Node(m.Graph, "MatMul").Output;
        y.OutputIndex = 1;
        var issue = AssertOnly(Verifier.Verify(m), VerifierIssueKind.ProducerMismatch);
        Assert.Same(y, issue.Value);
    }

    [Fact]
    public void ReportsProducerMismatch_WhenGraphInputHasProducer()
    {
        using var m = MatMulRelu();
        var x = m.Graph.Inputs[0];
        x.Producer = Node(m.Graph, "MatMul");
        AssertOnly(Verifier.Verify(m), VerifierIssueKind.ProducerMismatch);
    }

    [Fact]
    public void ReportsMultipleDefinitions_WhenInputIsListedTwice()
    {
        using var m = MatMulRelu();
        m.Graph.Inputs.Add(m.Graph.Inputs[0]);
        AssertOnly(Verifier.Verify(m), VerifierIssueKind.MultipleDefinitions);
    }

    [Fact]
    public void ReportsMultipleDefinitions_WhenConstantIsInTwoGraphs()
    {
        using var m = IfReadingOuterValue();
        var c = m.Graph.AddConstant(Tensor.Scalar(1f), "one");
        Branch(m.Graph, "then_branch").AddConstantFromReader(c);
        c.Graph = m.Graph;
        AssertOnly(Verifier.Verify(m), VerifierIssueKind.MultipleDefinitions);
    }

    [Fact]
    public void ReportsValueGraphMismatch_WhenOutputGraphIsWrong()
    {
        using var m = MatMulRelu();
        Node(m.Graph, "MatMul").Output.Graph = null;
        AssertOnly(Verifier.Verify(m), VerifierIssueKind.ValueGraphMismatch);
    }

    [Fact]
    public void ReportsMissingUse_WhenUseListLacksTheSlot()
    {
        using var m = MatMulRelu();
        var relu = Node(m.Graph, "Relu");
        relu.Inputs[0]!.RemoveUse(relu, 0);
        var issue = AssertOnly(Verifier.Verify(m), VerifierIssueKind.MissingUse);
        Assert.Same(relu, issue.Node);
    }

    [Fact]
    public void ReportsStaleUse_WhenUsePointsToSlotHoldingAnotherValue()
    {
        using var m = MatMulRelu();
        var w = m.Graph.Constants[0];
        w.AddUse(Node(m.Graph, "Relu"), 0);
        var issue = AssertOnly(Verifier.Verify(m), VerifierIssueKind.StaleUse);
        Assert.Same(w, issue.Value);
    }

    [Fact]
    public void ReportsStaleUse_WhenUseIsListedTwice()
    {
        using var m = MatMulRelu();
        var relu = Node(m.Graph, "Relu");
        relu.Inputs[0]!.AddUse(relu, 0);
        AssertOnly(Verifier.Verify(m), VerifierIssueKind.StaleUse);
    }

    [Fact]
    public void ReportsUseByDetachedNode_WhenNodeIsCreatedButNeverInserted()
    {
        using var m = MatMulRelu();
        var y = Node(m.Graph, "MatMul").Output;
        var stray = new Node("Neg", [y]);
        var issue = AssertOnly(Verifier.Verify(m), VerifierIssueKind.UseByDetachedNode);
        Assert.Same(stray, issue.Node);
    }

    [Fact]
    public void ReportsMissingName_WhenValueNameIsCleared()
    {
        using var m = MatMulRelu();
        Node(m.Graph, "MatMul").Output.Name = null;
        AssertOnly(Verifier.Verify(m), VerifierIssueKind.MissingName);
    }

    [Fact]
    public void ReportsDuplicateName_WithinAGraph()
    {
        using var m = MatMulRelu();
        Node(m.Graph, "MatMul").Output.Name = "x";
        var issue = AssertOnly(Verifier.Verify(m), VerifierIssueKind.DuplicateName);
        Assert.Contains("'x'", issue.Message);
    }

    [Fact]
    public void ReportsDuplicateName_BetweenGraphAndSubgraph()
    {
        using var m = IfReadingOuterValue();
        Node(Branch(m.Graph, "then_branch"), "Neg").Output.Name = "x";
        var issue = AssertOnly(Verifier.Verify(m), VerifierIssueKind.DuplicateName);
        Assert.Equal("graph 'main' / If .then_branch", issue.Where);
    }

    [Fact]
    public void ReportsNotInTopologicalOrder_WhenNodeIsMovedBeforeItsProducer()
    {
        using var m = MatMulRelu();
        m.Graph.MoveBefore(Node(m.Graph, "MatMul"), Node(m.Graph, "Relu"));
        var issue = AssertOnly(Verifier.Verify(m), VerifierIssueKind.NotInTopologicalOrder);
        Assert.Contains("Relu", issue.Message);
    }

    [Fact]
    public void ReportsNotInTopologicalOrder_WhenSubgraphReadsOuterValueDefinedAfterItsOwner()
    {
        using var m = IfReadingOuterValue();
        m.Graph.MoveBefore(Node(m.Graph, "Add"), Node(m.Graph, "If"));
        var report = Verifier.Verify(m);
        AssertOnly(report, VerifierIssueKind.NotInTopologicalOrder);
        Assert.Equal(2, report.Issues.Count); // one read in each branch
    }

    [Fact]
    public void ReportsOuterReferenceUnresolved_WhenBranchReadsValueOfSiblingBranch()
    {
        using var m = IfReadingOuterValue();
        var neg = Node(Branch(m.Graph, "then_branch"), "Neg");
        neg.ReplaceInput(0, Node(Branch(m.Graph, "else_branch"), "Abs").Output);
        var issue = AssertOnly(Verifier.Verify(m), VerifierIssueKind.OuterReferenceUnresolved);
        Assert.Same(neg, issue.Node);
    }

    [Fact]
    public void ReportsOuterReferenceUnresolved_WhenSubgraphReadsValueOfUnrelatedGraph()
    {
        using var m = IfReadingOuterValue();
        using var other = MatMulRelu();
        Node(Branch(m.Graph, "then_branch"), "Neg").ReplaceInput(0, other.Graph.Inputs[0]);
        AssertOnly(Verifier.Verify(m), VerifierIssueKind.OuterReferenceUnresolved);
    }

    [Fact]
    public void ReportsUndefinedValue_WhenProducerWasRemoved()
    {
        using var m = MatMulRelu();
        m.Graph.Remove(Node(m.Graph, "MatMul"), force: true);
        var issue = AssertOnly(Verifier.Verify(m), VerifierIssueKind.UndefinedValue);
        Assert.Contains("MatMul", issue.Message);
    }

    [Fact]
    public void ReportsGraphOutputUndefined_WhenOutputComesFromNowhere()
    {
        using var m = MatMulRelu();
        m.Graph.Outputs.Add(new Value("ghost"));
        var issue = AssertOnly(Verifier.Verify(m), VerifierIssueKind.GraphOutputUndefined);
        Assert.Contains("ghost", issue.Message);
    }

    [Fact]
    public void ReportsGraphOutputUndefined_WhenGraphOutputsAValueOfItsSubgraph()
    {
        using var m = IfReadingOuterValue();
        m.Graph.Outputs.Add(Node(Branch(m.Graph, "then_branch"), "Neg").Output);
        AssertOnly(Verifier.Verify(m), VerifierIssueKind.GraphOutputUndefined);
    }

    [Fact]
    public void ReportsConstantHasProducer()
    {
        using var m = MatMulRelu();
        m.Graph.Constants[0].Producer = Node(m.Graph, "MatMul");
        AssertOnly(Verifier.Verify(m), VerifierIssueKind.ConstantHasProducer);
    }

    [Fact]
    public void ReportsConstantWithoutTensor()
    {
        using var m = MatMulRelu();
        m.Graph.Constants[0].Const = null;
        AssertOnly(Verifier.Verify(m), VerifierIssueKind.ConstantWithoutTensor);
    }

    [Fact]
    public void ReportsConstantNotListed_WhenInputCarriesATensor()
    {
        using var m = MatMulRelu();
        m.Graph.Inputs[0].Const = Tensor.FromFloats(new float[4], 1, 4);
        AssertOnly(Verifier.Verify(m), VerifierIssueKind.ConstantNotListed);
    }

    [Fact]
    public void EveryIssueKind_HasATest()
    {
        // Keeps this file honest: a new kind needs a test above that breaks the graph that way.
        var tested = typeof(VerifierTests).GetMethods()
            .Where(m => m.GetCustomAttributes(typeof(FactAttribute), false).Length > 0)
            .Select(m => m.Name).ToList();
        foreach (var kind in Enum.GetValues<VerifierIssueKind>())
            Assert.Contains(tested, name => name.StartsWith("Reports" + kind, StringComparison.Ordinal));
    }

    [Fact]
    public void VerifyingASubgraph_SeesEnclosingValuesDefinedBeforeItsOwner()
    {
        using var m = IfReadingOuterValue();
        var then = Branch(m.Graph, "then_branch");
        Assert.True(Verifier.Verify(then).IsValid);
        m.Graph.MoveBefore(Node(m.Graph, "Add"), Node(m.Graph, "If"));
        var issue = AssertOnly(Verifier.Verify(then), VerifierIssueKind.NotInTopologicalOrder);
        Assert.Equal("graph 'main' / If .then_branch", issue.Where);
    }

    [Fact]
    public void VerifyingAGraph_FlagsUsesFromOutsideIt()
    {
        using var m = IfReadingOuterValue();
        var then = Branch(m.Graph, "then_branch");
        var neg = Node(then, "Neg").Output;
        // A main-graph node reading a branch value: the branch's own check sees a use from outside it.
        var leak = m.Graph.Append(new Node("Identity", [neg]));
        Assert.Contains(Verifier.Verify(then).Issues, i => i.Kind == VerifierIssueKind.UseByDetachedNode && i.Node == leak);
        Assert.Contains(Verifier.Verify(m).Issues, i => i.Kind == VerifierIssueKind.OuterReferenceUnresolved && i.Node == leak);
    }

    [Fact]
    public void FunctionBodies_AreVerified_WithNamesOfTheirOwn()
    {
        using var m = MatMulRelu();
        var body = new Graph { Name = "f" };
        var a = body.AddInput("x", null); // the main graph's "x" is another scope
        var relu = body.Append(new Node("Relu", [a]));
        body.Outputs.Add(relu.Output);
        m.Functions.Add(new Function("f", "local", body));
        Assert.True(Verifier.Verify(m).IsValid, Verifier.Verify(m).ToString());
        Assert.Equal("x", a.Name);

        relu.ReplaceInput(0, m.Graph.Inputs[0]); // a body cannot see the main graph
        var issue = AssertOnly(Verifier.Verify(m), VerifierIssueKind.OuterReferenceUnresolved);
        Assert.Equal("function 'local.f'", issue.Where);
    }

    [Fact]
    public void ThrowIfInvalid_ThrowsInvalidOperation_ListingContextAndIssues()
    {
        using var m = MatMulRelu();
        Verifier.Verify(m).ThrowIfInvalid("after nothing"); // valid: no throw
        Node(m.Graph, "MatMul").Output.Name = "x";
        var e = Assert.Throws<InvalidOperationException>(() => Verifier.Verify(m).ThrowIfInvalid("after pass 'test'"));
        Assert.Contains("after pass 'test'", e.Message);
        Assert.Contains("DuplicateName", e.Message);
        Assert.Contains("graph 'main'", e.Message);
    }
}
