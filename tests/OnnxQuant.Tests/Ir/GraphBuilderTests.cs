using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Ir.Verification;
using static OnnxQuant.Tests.Ir.SampleModels;
using Tensor = OnnxQuant.Ir.Tensor;

namespace OnnxQuant.Tests.Ir;

public class GraphBuilderTests
{
    /// <summary>Symbolic dims, attributes, several outputs, a custom domain and an If whose branches read outer values.</summary>
    private static Model Rich()
    {
        var b = new GraphBuilder(opset: 17).Opset("com.microsoft", 1);
        var x = b.Input("x", DataType.Float, "batch", 4);
        var c = b.Input("c", DataType.Bool);
        var w = b.Constant(Tensor.FromFloats(Enumerable.Range(0, 12).Select(i => i * 0.5f).ToArray(), 3, 4), "w");
        var bias = b.Constant(Tensor.FromFloats([1, 2, 3], 3), "bias");
        var g = b.Op("Gemm", [x, w, bias], attrs: [Attribute.Int("transB", 1), Attribute.Float("alpha", 0.5f)]);
        var halves = b.Op("Split", [g, b.Constant(Tensor.FromInt64s([1, 2], 2), "sizes")], outputs: 2, attrs: [Attribute.Int("axis", 1)]);
        var gelu = b.Op("Gelu", [halves[1]], domain: "com.microsoft", name: "gelu");
        var custom = b.Op("Frobnicate", [halves[0]], domain: "com.onnxquant", attrs: [Attribute.Ints("axes", 1, 2)]);
        var then = b.Subgraph("then");
        then.Output(then.Op("Neg", gelu));
        var otherwise = b.Subgraph("else");
        otherwise.Output(otherwise.Op("Relu", gelu));
        var r = b.Op("If", [c], attrs: [Attribute.FromGraph("then_branch", then.Graph), Attribute.FromGraph("else_branch", otherwise.Graph)]);
        b.Output(r, "r", DataType.Float, "batch", 2);
        b.Output(custom, "custom");
        return b.Build();
    }

    private static string Describe(Model m)
    {
        var lines = new List<string> { $"ir {m.IrVersion}", string.Join(",", m.OpsetImports) };
        foreach (var g in m.AllGraphs())
        {
            lines.Add($"graph {g.Name} in {string.Join(",", g.Inputs.Select(v => v.Name + ":" + v.Type))} out {string.Join(",", g.Outputs.Select(v => v.Name + ":" + v.Type))}");
            foreach (var c in g.Constants) lines.Add($"const {c.Name} {string.Join(",", c.Const!.Dims)} {Convert.ToHexString(c.Const.RawData.Span)}");
            foreach (var n in g.Nodes)
                lines.Add($"{n} ({string.Join(",", n.Inputs.Select(v => v?.Name))}) -> ({string.Join(",", n.Outputs.Select(v => v?.Name))}) {string.Join(" ", n.Attributes)}");
        }
        return string.Join("\n", lines);
    }

    [Fact]
    public void BuiltModel_RoundTripsThroughWriterAndReader_WithTheSameStructure()
    {
        using var built = Rich();
        using var read = OnnxReader.Read(OnnxWriter.ToBytes(built));
        Assert.Equal(Describe(built), Describe(read));
        Assert.True(Verifier.Verify(read).IsValid, Verifier.Verify(read).ToString());
        // The branches read the outer Gelu output by object link after reading, as they did when built.
        var gelu = read.Graph.Nodes.Single(n => n.OpType == "Gelu").Output;
        Assert.Equal(2, gelu.Uses.Count);
        Assert.All(gelu.Uses, u => Assert.NotSame(read.Graph, u.Node.Graph));
    }

    [Fact]
    public void Build_ImportsDeclaredOpsets_AndVersionOneOfUndeclaredDomains()
    {
        using var m = Rich();
        Assert.Equal(10, m.IrVersion);
        Assert.Equal(17, m.GetOpset(""));
        Assert.Equal(1, m.GetOpset("com.microsoft"));
        Assert.Equal(1, m.GetOpset("com.onnxquant"));
        Assert.Equal(3, m.OpsetImports.Count);
    }

    [Fact]
    public void Input_TakesKnownAndSymbolicDims()
    {
        using var m = Rich();
        var x = m.Graph.Inputs[0];
        Assert.Equal(new TensorType(DataType.Float, new Shape([Dim.Symbolic("batch"), Dim.Known(4)])), x.Type);
        Assert.Equal(new TensorType(DataType.Bool, new Shape()), m.Graph.Inputs[1].Type);
    }

    [Fact]
    public void Op_WithSeveralOutputs_ReturnsTheValuesOfOneNode()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DataType.Float, 4);
        var parts = b.Op("Split", [x], outputs: 2, attrs: [Attribute.Int("num_outputs", 2)], name: "split");
        Assert.Equal(2, parts.Length);
        Assert.Same(parts[0].Producer, parts[1].Producer);
        Assert.Equal([0, 1], parts.Select(v => v.OutputIndex));
        Assert.Equal("split", parts[0].Producer!.Name);
        Assert.Equal(2, parts[0].Producer!.GetAttribute("num_outputs")!.AsInt());
        Assert.NotEqual(parts[0].Name, parts[1].Name);
    }

    [Fact]
    public void Output_RenamesTheValue_ButRefusesTakenNamesAndGraphInputs()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DataType.Float, 4);
        var y = b.Op("Relu", x);
        Assert.Throws<ArgumentException>(() => b.Output(y, "x"));
        Assert.Throws<ArgumentException>(() => b.Output(x, "renamed"));
        b.Output(y, "y");
        Assert.Equal("y", y.Name);
        b.Output(x); // a graph input may be an output under its own name
        using var m = b.Build();
        Assert.Equal(new[] { "y", "x" }, m.Graph.Outputs.Select(v => v.Name));
    }

    [Fact]
    public void Constant_KeepsAFreeName_AndShapesComeFromTheTensor()
    {
        var b = new GraphBuilder();
        var w = b.Constant(Tensor.FromFloats(new float[6], 2, 3), "w");
        var w2 = b.Constant(Tensor.FromFloats(new float[6], 2, 3), "w");
        Assert.Equal("w", w.Name);
        Assert.NotEqual("w", w2.Name);
        Assert.Equal(new Shape(2, 3), w.Shape);
    }

    [Fact]
    public void Build_RunsTheVerifier()
    {
        var other = new GraphBuilder();
        var foreign = other.Input("foreign", DataType.Float, 1);
        var b = new GraphBuilder();
        b.Output(b.Op("Relu", foreign), "y");
        var e = Assert.Throws<InvalidOperationException>(() => b.Build());
        Assert.Contains(nameof(VerifierIssueKind.OuterReferenceUnresolved), e.Message);
    }

    [Fact]
    public void Build_IsOnlyForTheRootBuilder_AndOnlyOnce()
    {
        var b = new GraphBuilder();
        b.Output(b.Input("x", DataType.Float, 1));
        Assert.Throws<InvalidOperationException>(() => b.Subgraph("body").Build());
        using var m = b.Build();
        Assert.Throws<InvalidOperationException>(() => b.Build());
    }

    [Fact]
    public void SubgraphNames_NeverClashWithTheEnclosingGraph()
    {
        var b = new GraphBuilder();
        var c = b.Input("c", DataType.Bool);
        var x = b.Input("x", DataType.Float, 2);
        var then = b.Subgraph("then");
        var inner = then.Input("x", DataType.Float, 2); // "x" is taken in the main graph
        then.Output(then.Op("Relu", x));
        var otherwise = b.Subgraph("else");
        otherwise.Output(otherwise.Op("Relu", x));
        b.Output(b.Op("If", [c], attrs: [Attribute.FromGraph("then_branch", then.Graph), Attribute.FromGraph("else_branch", otherwise.Graph)]), "y");
        Assert.NotEqual("x", inner.Name);
        then.Graph.Inputs.Clear(); // an If branch has no inputs; the name was only claimed
        using var m = b.Build();
        var names = m.AllGraphs().SelectMany(g => g.Inputs.Concat(g.Nodes.SelectMany(n => n.Outputs))).Select(v => v!.Name).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
    }

    private static float[] Run(Model model, params (string Name, object Value)[] feeds)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(OnnxWriter.ToBytes(model), options);
        var inputs = feeds.Select(f => f.Value switch
        {
            DenseTensor<float> t => NamedOnnxValue.CreateFromTensor(f.Name, t),
            DenseTensor<bool> t => NamedOnnxValue.CreateFromTensor(f.Name, t),
            DenseTensor<long> t => NamedOnnxValue.CreateFromTensor(f.Name, t),
            _ => throw new ArgumentException(f.Name),
        }).ToList();
        using var results = session.Run(inputs);
        return results.First().AsTensor<float>().ToArray();
    }

    [Fact]
    public void BuiltModel_RunsInOnnxRuntime_MatchingAReferenceComputation()
    {
        using var m = MatMulRelu();
        float[] x = [0.5f, -1, 2, 0.25f];
        float[] w = m.Graph.Constants[0].Const!.AsSpan<float>().ToArray();
        var expected = new float[2];
        for (int j = 0; j < 2; j++)
        {
            float s = 0;
            for (int k = 0; k < 4; k++) s += x[k] * w[k * 2 + j];
            expected[j] = Math.Max(0, s);
        }
        float[] actual = Run(m, ("x", new DenseTensor<float>(x, [1, 4])));
        Assert.Equal(expected.Length, actual.Length);
        for (int j = 0; j < 2; j++) Assert.InRange(actual[j], expected[j] - 1e-5f, expected[j] + 1e-5f);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void IfBranchesReadingOuterValues_RunInOnnxRuntime(bool condition)
    {
        using var m = IfReadingOuterValue();
        float[] x = [-1.5f, 0, 2];
        float[] actual = Run(m, ("c", new DenseTensor<bool>(new[] { condition }, [])), ("x", new DenseTensor<float>(x, [3])));
        float[] expected = x.Select(v => condition ? -(v + v) : Math.Abs(v + v)).ToArray();
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void LoopBodyWithInputsAndOuterReads_RunsInOnnxRuntime()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DataType.Float, 2);
        var step = b.Constant(Tensor.FromFloats([0.5f, -1], 2), "step");
        var trips = b.Constant(Tensor.Scalar(3L), "trips");
        var body = b.Subgraph("body");
        body.Input("i", DataType.Int64);
        var keepGoing = body.Input("cond_in", DataType.Bool);
        var acc = body.Input("acc", DataType.Float, 2);
        body.Output(body.Op("Identity", keepGoing), type: new TensorType(DataType.Bool, new Shape()));
        body.Output(body.Op("Add", acc, step), type: new TensorType(DataType.Float, new Shape(2)));
        var loop = b.Op("Loop", [trips, null, x], attrs: [Attribute.FromGraph("body", body.Graph)]);
        b.Output(loop, "y", DataType.Float, 2);
        using var m = b.Build();
        float[] actual = Run(m, ("x", new DenseTensor<float>(new[] { 1f, 2 }, [2])));
        Assert.Equal(new[] { 1 + 3 * 0.5f, 2 - 3f }, actual);
    }
}
