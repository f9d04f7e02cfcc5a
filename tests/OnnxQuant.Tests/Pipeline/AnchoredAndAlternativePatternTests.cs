using OnnxQuant.Ir;
using OnnxQuant.Ir.Verification;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Rewriting;
using static OnnxQuant.Passes.Rewriting.Pattern;

namespace OnnxQuant.Tests.Pipeline;

/// <summary>
/// What the fusions need of the rewrite engine beyond a tree matched from its last node: anchors (a pattern offered
/// its first node), alternatives that backtrack into the rest of the tree, alternative trees tried longest first,
/// and matches the opset cannot express reported as skipped rather than as near misses.
/// </summary>
public class AnchoredAndAlternativePatternTests
{
    /// <summary>Exp(x) + 1 → test.ExpPlusOne(x), offered the Exp (its first node), not the common Add.</summary>
    private sealed class AnchoredAtExp : TreePattern
    {
        public string? UnsupportedReason { get; init; }

        protected override ValuePattern Define() => Op("Add", Op("Exp", Any("x")).Anchor(), Scalar(1));

        public override string? Unsupported(RewriteContext context) => UnsupportedReason;

        public override void Rewrite(Rewriter rewriter, MatchResult match)
        {
            var fused = rewriter.InsertBefore(match.Root, new Node("ExpPlusOne", [match.Value("x")], 1, "test", name: match.Root.Name));
            rewriter.Replace(match, fused.Output);
        }
    }

    /// <summary>Neg(a) + Exp(a) → test.Both(a), where the first alternative for the Add's input 0 (any value) must give way.</summary>
    private sealed class BacktracksIntoTheNextInput : TreePattern
    {
        protected override ValuePattern Define()
        {
            var a = Any("a");
            return Op("Add", OneOf(a, Op("Neg", a)), Op("Exp", a)).Ordered();
        }

        public override void Rewrite(Rewriter rewriter, MatchResult match) =>
            rewriter.Replace(match, rewriter.CreateBefore(match.Root, "Both", [match.Value("a")], domain: "test").Output);
    }

    /// <summary>Relu(x)·k → test.ScaledRelu(x) when k = 2, else Relu(x) alone → test.ScaledRelu(x): the longer tree first.</summary>
    private sealed class LongestFirst : TreePattern
    {
        protected override ValuePattern Define()
        {
            var relu = Op("Relu", Any("x")).Anchor();
            return OneOf(Op("Mul", relu, Constant("k")), relu);
        }

        protected override string? Check(MatchResult match, RewriteContext context) =>
            match.Values.ContainsKey("k") && !(ScalarReader.TryRead(match.Constant("k"), out double k) && k == 2) ? "k is not 2" : null;

        public override void Rewrite(Rewriter rewriter, MatchResult match) =>
            rewriter.Replace(match, rewriter.CreateBefore(match.Root, "ScaledRelu", [match.Value("x")], domain: "test").Output);
    }

    private static (Model Model, Graph Graph, Value X) NewModel()
    {
        var g = new Graph { Name = "g" };
        var x = g.AddInput("x", new TensorType(DataType.Float, new Shape(2, 3)));
        var model = new Model(g);
        model.SetOpset("", 17);
        model.SetOpset("test", 1);
        return (model, g, x);
    }

    private static Value Out(Graph g, Value v)
    {
        v.Type ??= new TensorType(DataType.Float, new Shape(2, 3));
        g.Outputs.Add(v);
        return v;
    }

    [Fact]
    public void AnchoredPattern_IsOfferedItsFirstNode_AndReplacesItsLast()
    {
        var (model, g, x) = NewModel();
        var add = g.Append(new Node("Add", [g.Append(new Node("Exp", [x])).Output, g.AddConstant(Tensor.Scalar(1f))], name: "the_add"));
        Out(g, add.Output);
        var pattern = new AnchoredAtExp();

        var result = RewriteDriver.Apply(model, [pattern], new PassContext());

        Assert.Equal(["Exp"], pattern.OfferedOpTypes);
        Assert.Equal(1, result.Applications);
        var fused = Assert.Single(g.Nodes);
        Assert.Equal(("ExpPlusOne", "the_add"), (fused.OpType, fused.Name));
        Assert.True(Verifier.Verify(model).IsValid);
    }

    [Fact]
    public void AnchoredPattern_SaysWhenItsAnchorIsNotReadByTheNextOp()
    {
        var (model, g, x) = NewModel();
        Out(g, g.Append(new Node("Neg", [g.Append(new Node("Exp", [x])).Output])).Output);
        var context = new PassContext();

        var result = RewriteDriver.Apply(model, [new AnchoredAtExp()], context);

        Assert.False(result.Modified);
        Assert.Equal("the Exp is not read by Add (as input 0)", Assert.Single(result.NearMisses).Reason);
        Assert.Equal(1, context.Misses[nameof(AnchoredAtExp)]["the Exp is not read by Add (as input 0)"]);
    }

    [Fact]
    public void AnchoredPattern_TakesTheAddThatReadsTheAnchor_WhenTheExpHasSeveralReaders()
    {
        // Exp feeds a Neg and an Add of 2 as well as the Add of 1: only the last is the pattern's root, and the
        // intermediate rule refuses it (the Exp is read outside the match), with that reason.
        var (model, g, x) = NewModel();
        var exp = g.Append(new Node("Exp", [x])).Output;
        Out(g, g.Append(new Node("Add", [exp, g.AddConstant(Tensor.Scalar(2f))])).Output);
        Out(g, g.Append(new Node("Add", [g.AddConstant(Tensor.Scalar(1f)), exp])).Output);

        var result = RewriteDriver.Apply(model, [new AnchoredAtExp()], new PassContext());

        Assert.False(result.Modified);
        Assert.Equal("the Exp inside the pattern is also used by Add", Assert.Single(result.NearMisses).Reason);
    }

    [Fact]
    public void Alternative_ThatMakesALaterInputFail_GivesWayToTheNext()
    {
        var (model, g, x) = NewModel();
        Out(g, g.Append(new Node("Add", [g.Append(new Node("Neg", [x])).Output, g.Append(new Node("Exp", [x])).Output])).Output);

        var result = RewriteDriver.Apply(model, [new BacktracksIntoTheNextInput()], new PassContext());

        Assert.Equal(1, result.Applications);
        var both = Assert.Single(g.Nodes);
        Assert.Equal("Both", both.OpType);
        Assert.Same(x, both.Inputs[0]);
    }

    [Theory]
    [InlineData(2f, new[] { "ScaledRelu" })]
    [InlineData(3f, new[] { "ScaledRelu", "Mul" })]
    public void AlternativeTrees_AreTriedLongestFirst_AndACheckFailureFallsBackToTheShorter(float k, string[] expected)
    {
        var (model, g, x) = NewModel();
        Out(g, g.Append(new Node("Mul", [g.Append(new Node("Relu", [x])).Output, g.AddConstant(Tensor.Scalar(k))])).Output);

        var result = RewriteDriver.Apply(model, [new LongestFirst()], new PassContext());

        Assert.Equal(1, result.Applications);
        Assert.Equal(expected, g.Nodes.Select(n => n.OpType));
        Assert.True(Verifier.Verify(model).IsValid);
    }

    [Fact]
    public void MatchTheOpsetCannotExpress_IsSkippedAndCounted_NotANearMiss()
    {
        var (model, g, x) = NewModel();
        Out(g, g.Append(new Node("Add", [g.Append(new Node("Exp", [x])).Output, g.AddConstant(Tensor.Scalar(1f))])).Output);
        var context = new PassContext();

        var result = RewriteDriver.Apply(model, [new AnchoredAtExp { UnsupportedReason = "ExpPlusOne needs opset 99; the model has 17" }], context);

        Assert.False(result.Modified);
        Assert.Equal(2, g.NodeCount);
        Assert.Empty(result.NearMisses);
        Assert.Equal("ExpPlusOne needs opset 99; the model has 17", Assert.Single(result.Skipped).Reason);
        Assert.Equal(1, context.Counters["skipped-opset"]);
    }

    [Fact]
    public void Rewriter_SetInput_RefusesAValueDefinedAfterTheNode_AndAppendsAtTheEnd()
    {
        using var model = TestModels.Chain();
        var rewriter = new Rewriter(model.Graph);
        var relu = model.Graph.FirstNode!;
        var neg = model.Graph.LastNode!;

        Assert.Throws<InvalidOperationException>(() => rewriter.SetInput(relu, 0, neg.Inputs[0]));
        var constant = rewriter.AddConstant(Tensor.Scalar(1f));
        rewriter.SetInput(neg, 1, constant);

        Assert.Same(constant, neg.Inputs[1]);
        Assert.Same(model.Graph.Inputs[0], relu.Inputs[0]);
        rewriter.SetInput(neg, 1, null);
        Assert.True(rewriter.RemoveConstantIfUnused(constant));
        Assert.DoesNotContain(constant, model.Graph.Constants);
    }
}
