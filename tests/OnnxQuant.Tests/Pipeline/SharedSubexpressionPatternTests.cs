using OnnxQuant.Ir;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Rewriting;
using OnnxQuant.Runtime;
using static OnnxQuant.Passes.Rewriting.Pattern;

namespace OnnxQuant.Tests.Pipeline;

/// <summary>
/// A pattern whose tree reads one subexpression twice — decomposed LayerNorm, where <c>d = x − mean(x)</c> feeds both
/// the numerator and the variance — matched by capturing <c>d</c> once and reusing the pattern object.
/// </summary>
public class SharedSubexpressionPatternTests
{
    private sealed class LayerNormShapedPattern : TreePattern
    {
        protected override OpPattern Define()
        {
            var x = Any("x");
            var lastAxis = (Func<Node, bool>)(n => n.GetInts("axes") is [-1]);
            var d = Op("Sub", x, Op("ReduceMean", x).Where(lastAxis, "the mean is not over the last axis")).As("d");
            var variance = Op("ReduceMean", Op("Pow", d, Scalar(2))).Where(lastAxis, "the variance is not over the last axis");
            var normalized = Op("Div", d, Op("Sqrt", Op("Add", variance, Constant("epsilon"))));
            return Op("Add", Op("Mul", normalized, Constant("gamma")), Constant("beta"));
        }

        protected override string? Check(MatchResult match, RewriteContext context) => context.RequireOpset(17, "LayerNormalization");

        public override void Rewrite(Rewriter rewriter, MatchResult match)
        {
            ScalarReader.TryRead(match.Constant("epsilon"), out double epsilon);
            var layerNorm = rewriter.CreateBefore(match.Root, "LayerNormalization",
                [match.Value("x"), match.Value("gamma"), match.Value("beta")],
                [Attribute.Int("axis", -1), Attribute.Float("epsilon", (float)epsilon)]);
            rewriter.Replace(match, layerNorm.Output);
        }
    }

    private static Model Decomposed(bool varianceOverFirstAxis = false)
    {
        var g = new Graph { Name = "ln" };
        var x = g.AddInput("x", new TensorType(DataType.Float, new Shape(2, 4)));
        var mean = g.Append(new Node("ReduceMean", [x], attributes: [Attribute.Ints("axes", -1)])).Output;
        var d = g.Append(new Node("Sub", [x, mean])).Output;
        var square = g.Append(new Node("Pow", [d, g.AddConstant(Tensor.Scalar(2f))])).Output;
        var variance = g.Append(new Node("ReduceMean", [square], attributes: [Attribute.Ints("axes", varianceOverFirstAxis ? 0 : -1)])).Output;
        var std = g.Append(new Node("Sqrt", [g.Append(new Node("Add", [variance, g.AddConstant(Tensor.Scalar(1e-5f))])).Output])).Output;
        var normalized = g.Append(new Node("Div", [d, std])).Output;
        var gamma = g.AddConstant(Tensor.FromFloats([1f, 0.5f, 2f, -1f], 4));
        var beta = g.AddConstant(Tensor.FromFloats([0f, 0.1f, -0.2f, 0.3f], 4));
        var scaled = g.Append(new Node("Mul", [gamma, normalized])).Output;
        g.Outputs.Add(g.Append(new Node("Add", [beta, scaled])).Output);
        var model = new Model(g);
        model.SetOpset("", 17);
        return model;
    }

    [Fact]
    public void MatchesATreeThatReadsOneValueTwice_AndKeepsTheNumbers()
    {
        using var original = Decomposed();
        using var fused = Decomposed();
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats([1f, 2f, 3f, 4f, -2f, 0.5f, 7f, 0f], 2, 4) };

        var result = RewriteDriver.Apply(fused, [new LayerNormShapedPattern()], new PassContext());

        Assert.Equal(1, result.Applications);
        Assert.Equal(["LayerNormalization"], fused.Graph.Nodes.Select(n => n.OpType));
        Assert.Equal(2, fused.Graph.Constants.Count);
        string name = original.Graph.Outputs[0].Name!;
        float[] expected = ModelRunner.RunOnce(original, feeds)[name].AsSpan<float>().ToArray();
        float[] actual = ModelRunner.RunOnce(fused, feeds)[fused.Graph.Outputs[0].Name!].AsSpan<float>().ToArray();
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5f * Math.Max(1, Math.Abs(expected[i])), $"element {i}: {expected[i]} vs {actual[i]}");
    }

    [Fact]
    public void ReportsAFailedNodeCondition_WithItsPath()
    {
        using var model = Decomposed(varianceOverFirstAxis: true);

        var result = RewriteDriver.Apply(model, [new LayerNormShapedPattern()], new PassContext());

        Assert.False(result.Modified);
        Assert.Contains(result.NearMisses, m => m.Reason.EndsWith("ReduceMean: the variance is not over the last axis", StringComparison.Ordinal));
    }
}
