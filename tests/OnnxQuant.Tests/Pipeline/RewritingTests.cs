using OnnxQuant.Ir;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Rewriting;
using OnnxQuant.Runtime;
using static OnnxQuant.Passes.Rewriting.Pattern;

namespace OnnxQuant.Tests.Pipeline;

public class RewritingTests
{
    private static readonly long[] Shape = [2, 8];

    /// <summary>x: float[2,8] → y = Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6), with knobs for the must-not-fire cases.</summary>
    private static Model HardSwishModel(long opset = 14, float clipMax = 6, bool swapped = false, bool otherMulInput = false)
    {
        var g = new Graph { Name = "hs" };
        var x = g.AddInput("x", new TensorType(DataType.Float, new Shape(Shape)));
        var other = otherMulInput ? g.AddInput("other", new TensorType(DataType.Float, new Shape(Shape))) : null;
        var three = g.AddConstant(Tensor.Scalar(3f), "three");
        var zero = g.AddConstant(Tensor.Scalar(0f), "zero");
        var max = g.AddConstant(Tensor.Scalar(clipMax), "max");
        var six = g.AddConstant(Tensor.Scalar(6f), "six");
        var add = g.Append(new Node("Add", swapped ? [three, x] : [x, three])).Output;
        var clip = g.Append(new Node("Clip", [add, zero, max])).Output;
        var mulInput = other ?? x;
        var mul = g.Append(new Node("Mul", swapped ? [clip, mulInput] : [mulInput, clip])).Output;
        var y = g.Append(new Node("Div", [mul, six])).Output;
        g.Outputs.Add(y);
        var model = new Model(g);
        model.SetOpset("", opset);
        return model;
    }

    private static RewriteResult Apply(Model model, PassContext? context = null) =>
        RewriteDriver.Apply(model, [new ExampleFuseHardSwish()], context ?? new PassContext());

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ExamplePattern_FusesHardSwish_InEitherInputOrder(bool swapped)
    {
        using var model = HardSwishModel(swapped: swapped);
        var context = new PassContext();

        var result = Apply(model, context);

        Assert.Equal(1, result.Applications);
        Assert.Equal(["HardSwish"], model.Graph.Nodes.Select(n => n.OpType));
        Assert.Same(model.Graph.Inputs[0], model.Graph.FirstNode!.Inputs[0]);
        // The scalars only the pattern read are gone with it; the graph output keeps its name.
        Assert.Empty(model.Graph.Constants);
        Assert.Equal(1, context.Counters[nameof(ExampleFuseHardSwish)]);
    }

    [Fact]
    public void ExamplePattern_GivesTheSameNumbersInOnnxRuntime()
    {
        var random = new Random(0);
        float[] x = Enumerable.Range(0, 16).Select(i => i < 4 ? new[] { -3f, 3f, 0f, -6f }[i] : (float)(random.NextDouble() * 12 - 6)).ToArray();
        using var original = HardSwishModel();
        using var fused = HardSwishModel();
        Apply(fused);
        string outputName = original.Graph.Outputs[0].Name!;

        // ModelRunner runs with graph optimizations off.
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(x, Shape) };
        float[] expected = ModelRunner.RunOnce(original, feeds)[outputName].AsSpan<float>().ToArray();
        float[] actual = ModelRunner.RunOnce(fused, feeds)[outputName].AsSpan<float>().ToArray();

        Assert.Equal(outputName, fused.Graph.Outputs[0].Name);
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5f, $"element {i}: {expected[i]} vs {actual[i]}");
    }

    [Fact]
    public void SecondApplication_ChangesNothing()
    {
        using var model = HardSwishModel();
        Apply(model);

        var second = Apply(model);

        Assert.False(second.Modified);
        Assert.Equal(1, second.Sweeps);
    }

    [Fact]
    public void NearMiss_RecordsWhyTheDeepestAttemptFailed()
    {
        using var model = HardSwishModel(clipMax: 5);
        var context = new PassContext { CurrentPass = "fuse-test" };

        var result = Apply(model, context);

        Assert.False(result.Modified);
        var miss = Assert.Single(result.NearMisses);
        Assert.Equal("Div", miss.Node.OpType);
        Assert.Equal("Div input 0 → Mul input 1 → Clip input 2: expected the constant 6, found 5", miss.Reason);
        Assert.Equal(1, context.Misses["fuse-test.ExampleFuseHardSwish"][miss.Reason]);
    }

    [Fact]
    public void DoesNotFire_WhenARepeatedVariableBindsTwoValues()
    {
        using var model = HardSwishModel(otherMulInput: true);

        var result = Apply(model);

        Assert.False(result.Modified);
        Assert.Contains("'x' appears twice", Assert.Single(result.NearMisses).Reason);
    }

    [Fact]
    public void DoesNotFire_WhenAnIntermediateIsUsedElsewhere()
    {
        using var model = HardSwishModel();
        var clip = model.Graph.Nodes.Single(n => n.OpType == "Clip").Output;
        model.Graph.Outputs.Add(model.Graph.Append(new Node("Relu", [clip])).Output);

        var result = Apply(model);

        Assert.False(result.Modified);
        Assert.Equal("the Clip inside the pattern is also used by Relu", Assert.Single(result.NearMisses).Reason);
    }

    [Fact]
    public void DoesNotFire_WhenAnIntermediateIsAGraphOutput()
    {
        using var model = HardSwishModel();
        model.Graph.Outputs.Add(model.Graph.Nodes.Single(n => n.OpType == "Mul").Output);

        var result = Apply(model);

        Assert.False(result.Modified);
        Assert.Equal("the Mul inside the pattern produces a graph output", Assert.Single(result.NearMisses).Reason);
    }

    [Fact]
    public void DoesNotFire_BelowTheTargetOpsOpset_AndSaysSo()
    {
        using var model = HardSwishModel(opset: 13);

        var result = Apply(model);

        Assert.False(result.Modified);
        Assert.Equal("HardSwish needs opset 14; the model has 13", Assert.Single(result.NearMisses).Reason);
    }

    [Fact]
    public void Driver_RewritesInsideSubgraphs()
    {
        using var model = HardSwishModel();
        // Move the whole computation into the then-branch of an If on a constant condition.
        var main = new Graph { Name = "main" };
        var x = main.AddInput("x", new TensorType(DataType.Float, new Shape(Shape)));
        var cond = main.AddConstant(Tensor.FromSpan<byte>(DataType.Bool, [1], []), "cond");
        var branch = new Graph { Name = "then" };
        var add = branch.Append(new Node("Add", [x, branch.AddConstant(Tensor.Scalar(3f))])).Output;
        var clip = branch.Append(new Node("Clip", [add, branch.AddConstant(Tensor.Scalar(0f)), branch.AddConstant(Tensor.Scalar(6f))])).Output;
        var mul = branch.Append(new Node("Mul", [x, clip])).Output;
        branch.Outputs.Add(branch.Append(new Node("Div", [mul, branch.AddConstant(Tensor.Scalar(6f))])).Output);
        var orElse = new Graph { Name = "else" };
        orElse.Outputs.Add(orElse.Append(new Node("Identity", [x])).Output);
        var ifNode = main.Append(new Node("If", [cond], attributes: [Attribute.FromGraph("then_branch", branch), Attribute.FromGraph("else_branch", orElse)]));
        main.Outputs.Add(ifNode.Output);
        model.Graph = main;

        var result = Apply(model);

        Assert.Equal(1, result.Applications);
        Assert.Equal(["HardSwish"], branch.Nodes.Select(n => n.OpType));
        Assert.Same(x, branch.FirstNode!.Inputs[0]);
    }

    [Fact]
    public void Driver_FailsClearly_WhenPatternsNeverStopMatching()
    {
        using var model = TestModels.Chain();

        var e = Assert.Throws<InvalidOperationException>(() =>
            RewriteDriver.Apply(model, [new ReluToReluPattern()], new PassContext(), maxSweeps: 4));

        Assert.Contains("after 4 sweeps", e.Message);
        Assert.Contains(nameof(ReluToReluPattern), e.Message);
    }

    [Fact]
    public void Rewriter_RefusesToInsertANodeBeforeItsInputIsDefined()
    {
        using var model = TestModels.Chain();
        var rewriter = new Rewriter(model.Graph);
        var last = model.Graph.LastNode!;

        Assert.Throws<InvalidOperationException>(() =>
            rewriter.CreateBefore(model.Graph.FirstNode!, "Relu", [last.Output]));
        Assert.Equal(4, model.Graph.NodeCount);
        Assert.Equal(0, rewriter.NodesAdded);
    }

    [Fact]
    public void Rewriter_RefusesAReplacementDefinedAfterAUse()
    {
        using var model = TestModels.Chain();
        var rewriter = new Rewriter(model.Graph);
        var relu = model.Graph.FirstNode!;
        var late = rewriter.CreateBefore(model.Graph.LastNode!, "Abs", [model.Graph.Inputs[0]]);

        Assert.Throws<InvalidOperationException>(() => rewriter.ReplaceAllUsesWith(relu.Output, late.Output));
        Assert.Equal("Identity", relu.Output.Uses.Single().Node.OpType);
    }

    [Fact]
    public void Rewriter_RemoveDead_RemovesChainsButKeepsUsedNodes()
    {
        using var model = TestModels.Chain(identities: 2);
        var nodes = model.Graph.Nodes.ToList();
        var neg = nodes[^1];
        // Make Neg read x directly: Relu and both Identities are now dead.
        neg.ReplaceInput(0, model.Graph.Inputs[0]);
        var rewriter = new Rewriter(model.Graph);

        int removed = rewriter.RemoveDead(nodes);

        Assert.Equal(3, removed);
        Assert.Equal(["Neg"], model.Graph.Nodes.Select(n => n.OpType));
    }

    [Fact]
    public void HandWrittenPattern_CanFailWithItsOwnReason()
    {
        using var model = TestModels.Chain();
        var pattern = new ReluToReluPattern { Refuse = "the Relu feeds nothing interesting" };
        var context = new RewriteContext(model, model.Graph, new PassContext());

        var match = pattern.TryMatch(model.Graph.FirstNode!, context);

        Assert.False(match.Succeeded);
        Assert.Equal("the Relu feeds nothing interesting", match.FailureReason);
        Assert.Equal("the root is Identity, not Relu", pattern.TryMatch(model.Graph.FirstNode!.Output.Uses[0].Node, context).FailureReason);
    }

    /// <summary>Replaces each Relu by a new Relu: it always matches again (unless told to refuse).</summary>
    private sealed class ReluToReluPattern : RewritePattern
    {
        public string? Refuse { get; init; }
        public override string RootOpType => "Relu";

        public override MatchResult Match(Node root, RewriteContext context) =>
            Refuse is null ? MatchResult.Success(root, [root], new Dictionary<string, Value> { ["x"] = root.Inputs[0]! }) : MatchResult.Fail(Refuse);

        public override void Rewrite(Rewriter rewriter, MatchResult match) =>
            rewriter.Replace(match, rewriter.CreateBefore(match.Root, "Relu", [match.Value("x")]).Output);
    }
}
