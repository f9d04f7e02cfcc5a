using OnnxQuant.Tests.Support;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Fusion;

namespace OnnxQuant.Tests.Fusion;

public class FuseLayerNormTests
{
    private const double Tolerance = 1e-5;

    public enum Variant { PowDiv, MulSelfReciprocal, DivOneCommuted }

    /// <summary>
    /// Builds y = LayerNorm(x) decomposed; <paramref name="axesInput"/> puts ReduceMean's axes in an input (opset ≥ 18).
    /// Returns the mean so tests can add consumers to it.
    /// </summary>
    private static Value BuildLayerNorm(FusionTestGraph t, Value x, long channels, bool axesInput, Variant variant = Variant.PowDiv,
        bool affine = true, float epsilon = 1e-5f, float exponent = 2, long axis = -1)
    {
        Value ReduceMean(Value v) => axesInput
            ? t.Op("ReduceMean", [v, t.Int64s(axis)])
            : t.Op("ReduceMean", [v], Attribute.Ints("axes", axis));
        var mean = ReduceMean(x);
        var d = t.Op("Sub", x, mean);
        var square = variant == Variant.PowDiv ? t.Op("Pow", d, t.Scalar(exponent)) : t.Op("Mul", d, d);
        var sqrt = t.Op("Sqrt", t.Op("Add", ReduceMean(square), t.Scalar(epsilon)));
        var n = variant switch
        {
            Variant.PowDiv => t.Op("Div", d, sqrt),
            Variant.MulSelfReciprocal => t.Op("Mul", d, t.Op("Reciprocal", sqrt)),
            _ => t.Op("Mul", t.Op("Div", t.Scalar(1), sqrt), d),
        };
        if (affine)
        {
            var gamma = t.Random(0.5f, 1.5f, channels);
            var beta = t.Random(-0.5f, 0.5f, channels);
            n = variant == Variant.DivOneCommuted ? t.Op("Add", beta, t.Op("Mul", gamma, n)) : t.Op("Add", t.Op("Mul", n, gamma), beta);
        }
        t.Output(n);
        return mean;
    }

    [Theory]
    [InlineData(17, Variant.PowDiv)]
    [InlineData(17, Variant.MulSelfReciprocal)]
    [InlineData(18, Variant.DivOneCommuted)]
    [InlineData(18, Variant.PowDiv)]
    public void FusesDecomposedLayerNorm_IntoOneNode_WithTheSameOutputs(long opset, Variant variant)
    {
        var t = new FusionTestGraph(opset);
        BuildLayerNorm(t, t.Input("x", 2, 5, 16), 16, axesInput: opset >= 18, variant, epsilon: 1e-3f);

        var result = t.RunAndCompare(new FuseLayerNormPass(), Tolerance);

        Assert.True(result.Modified);
        Assert.Equal(1, t.Count("LayerNormalization"));
        Assert.Equal(1, t.Model.Graph.NodeCount);
        var ln = t.Model.Graph.Nodes.Single();
        Assert.Equal(1e-3f, ln.GetFloat("epsilon", 0));
        Assert.Equal(-1, ln.GetInt("axis", 0));
        // The pattern's scalars go with it; γ and β stay as the fused node's inputs.
        Assert.Equal(2, t.Model.Graph.Constants.Count);
    }

    [Fact]
    public void FusesWithoutGammaAndBeta_WhenTheLastDimensionIsKnown()
    {
        var t = new FusionTestGraph(17);
        BuildLayerNorm(t, t.Input("x", 3, 8), 8, axesInput: false, affine: false);

        t.RunAndCompare(new FuseLayerNormPass(), Tolerance);

        var ln = Assert.Single(t.Model.Graph.Nodes);
        Assert.Equal("LayerNormalization", ln.OpType);
        Assert.Equal(2, ln.Inputs.Count);
        Assert.All(ln.Inputs[1]!.Const!.AsSpan<float>().ToArray(), v => Assert.Equal(1f, v));
    }

    [Fact]
    public void DoesNotFire_WhenTheMeanIsAlsoUsedElsewhere()
    {
        var t = new FusionTestGraph(17);
        var mean = BuildLayerNorm(t, t.Input("x", 2, 16), 16, axesInput: false);
        t.Output(t.Op("Neg", mean));
        int before = t.Model.Graph.NodeCount;

        t.AssertDoesNotFire(new FuseLayerNormPass(), "the ReduceMean inside the pattern is also used by Neg");

        Assert.Equal(before, t.Model.Graph.NodeCount);
        Assert.Equal(0, t.Count("LayerNormalization"));
    }

    [Fact]
    public void DoesNotFire_WhenTheCenteredValueIsAGraphOutput()
    {
        var t = new FusionTestGraph(17);
        BuildLayerNorm(t, t.Input("x", 2, 16), 16, axesInput: false);
        var sub = t.Model.Graph.Nodes.Single(n => n.OpType == "Sub");
        t.Output(sub.Output);

        t.AssertDoesNotFire(new FuseLayerNormPass(), "the Sub inside the pattern produces a graph output");
        Assert.Equal(0, t.Count("LayerNormalization"));
    }

    [Fact]
    public void DoesNotFire_WhenTheCenteredValueIsAlsoReadInsideASubgraph()
    {
        var t = new FusionTestGraph(17);
        BuildLayerNorm(t, t.Input("x", 2, 16), 16, axesInput: false);
        var d = t.Model.Graph.Nodes.Single(n => n.OpType == "Sub").Output;
        t.Output(t.Op("If", [t.Graph.AddInput("cond", new TensorType(DataType.Bool, new Shape()))],
            Attribute.FromGraph("then_branch", Branch(d)), Attribute.FromGraph("else_branch", Branch(d))));

        t.AssertDoesNotFire(new FuseLayerNormPass(), "the Sub inside the pattern is also used by Neg in a subgraph");
        Assert.Equal(0, t.Count("LayerNormalization"));
    }

    [Fact]
    public void FusesALayerNormInsideASubgraph()
    {
        var t = new FusionTestGraph(17);
        var x = t.Input("x", 2, 16);
        var inner = new FusionTestGraph(17);
        BuildLayerNorm(inner, x, 16, axesInput: false);
        inner.Graph.Name = "then";
        var other = new Graph { Name = "else" };
        other.Outputs.Add(other.Append(new Node("Neg", [x])).Output);
        other.Outputs[0].Type = new TensorType(DataType.Float);
        t.Output(t.Op("If", [t.Graph.AddInput("cond", new TensorType(DataType.Bool, new Shape()))],
            Attribute.FromGraph("then_branch", inner.Graph), Attribute.FromGraph("else_branch", other)));
        var feeds = new Dictionary<string, Tensor>
        {
            ["x"] = Tensor.FromFloats(Enumerable.Range(0, 32).Select(i => MathF.Sin(i)).ToArray(), 2, 16),
            ["cond"] = Tensor.FromRaw(DataType.Bool, [], new byte[] { 1 }),
        };

        var result = FusionTestGraph.RunAndCompare(t.Model, new FuseLayerNormPass(), Tolerance, feeds);

        Assert.True(result.Modified);
        Assert.Equal(1, inner.Graph.NodeCount);
        Assert.Equal("LayerNormalization", inner.Graph.FirstNode!.OpType);
    }

    /// <summary>A branch whose only node reads <paramref name="outer"/> from the enclosing graph.</summary>
    private static Graph Branch(Value outer)
    {
        var g = new Graph { Name = "branch" };
        var neg = g.Append(new Node("Neg", [outer]));
        neg.Output.Type = new TensorType(DataType.Float);
        g.Outputs.Add(neg.Output);
        return g;
    }

    [Fact]
    public void DoesNotFire_WhenTheExponentIsNotTwo()
    {
        var t = new FusionTestGraph(17);
        BuildLayerNorm(t, t.Input("x", 2, 16), 16, axesInput: false, exponent: 3);

        t.AssertDoesNotFire(new FuseLayerNormPass(), "Pow input 1: expected the constant 2, found 3");
        Assert.Equal(1, t.Count("Pow"));
    }

    [Fact]
    public void DoesNotFire_WhenReducingAnotherAxisThanTheLast()
    {
        var t = new FusionTestGraph(17);
        BuildLayerNorm(t, t.Input("x", 4, 16), 4, axesInput: false, affine: false, axis: 0);

        t.AssertDoesNotFire(new FuseLayerNormPass(), "the ReduceMean reduces over axis 0, not the last one");
        Assert.Equal(0, t.Count("LayerNormalization"));
    }

    [Fact]
    public void IsSkippedAndCounted_BelowOpset17()
    {
        var t = new FusionTestGraph(16);
        BuildLayerNorm(t, t.Input("x", 2, 16), 16, axesInput: false);
        int before = t.Model.Graph.NodeCount;
        var log = new List<string>();
        var context = new PassContext(log: log.Add);

        var result = new FuseLayerNormPass().Run(t.Model, context);

        Assert.False(result.Modified);
        Assert.Equal(before, t.Model.Graph.NodeCount);
        Assert.Equal(1, context.Counters.GetValueOrDefault("skipped-opset"));
        Assert.Contains(log, line => line.Contains("LayerNormalization needs opset 17; the model has 16"));
    }

    [Fact]
    public void SecondRun_ChangesNothing()
    {
        var t = new FusionTestGraph(17);
        BuildLayerNorm(t, t.Input("x", 2, 16), 16, axesInput: false);
        var pass = new FuseLayerNormPass();
        Assert.True(pass.Run(t.Model, new PassContext()).Modified);
        var bytes = OnnxWriter.ToBytes(t.Model);

        Assert.False(pass.Run(t.Model, new PassContext()).Modified);
        Assert.Equal(bytes, OnnxWriter.ToBytes(t.Model));
    }

    [Fact]
    public void PpocrV4Rec_AtItsOpset9_ReportsItsFiveLayerNormsAsSkipped()
    {
        using var model = OnnxReader.Read(SharedPaths.Model("ppocr_v4_rec.onnx"));
        Assert.Equal(9, model.GetOpset(""));
        int before = model.Graph.NodeCount;
        var context = new PassContext();

        var result = new FuseLayerNormPass().Run(model, context);

        Assert.False(result.Modified);
        Assert.Equal(before, model.Graph.NodeCount);
        Assert.Equal(5, context.Counters.GetValueOrDefault("skipped-opset"));
        // Every ReduceMean that is no LayerNorm's first says why; none of them is a LayerNorm that failed a condition.
        Assert.All(FusionTestGraph.Reasons(context), r => Assert.StartsWith("the ReduceMean is not read by Sub", r));
    }
}
