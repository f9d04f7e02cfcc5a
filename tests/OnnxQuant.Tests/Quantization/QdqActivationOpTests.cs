using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Runtime.Audit;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization;

/// <summary>
/// Q/DQ around weightless ops (Add, Mul, Concat, pooling, Sigmoid, LeakyRelu, Softmax): structure, numerics against a
/// fake-quant reference written here, and the integer kernel ORT forms from them.
/// </summary>
public class QdqActivationOpTests
{
    private const int C = 4, H = 4, W = 4, N = C * H * W;

    /// <summary>One op on graph inputs a (and b), with its float reference computed here.</summary>
    private sealed record Case(string Op, int Inputs, Attribute[] Attributes, long[] OutDims, Func<double[], double[], double[]> Reference);

    private static Case For(string op) => op switch
    {
        "Add" => new(op, 2, [], [1, C, H, W], (a, b) => a.Zip(b, (x, y) => x + y).ToArray()),
        "Mul" => new(op, 2, [], [1, C, H, W], (a, b) => a.Zip(b, (x, y) => x * y).ToArray()),
        "Concat" => new(op, 2, [Attribute.Int("axis", 1)], [1, 2 * C, H, W], (a, b) => a.Concat(b).ToArray()),
        "AveragePool" => new(op, 1, [Attribute.Ints("kernel_shape", [2, 2]), Attribute.Ints("strides", [2, 2])], [1, C, H / 2, W / 2], (a, _) =>
        {
            var y = new double[C * (H / 2) * (W / 2)];
            for (int c = 0; c < C; c++)
                for (int i = 0; i < H / 2; i++)
                    for (int j = 0; j < W / 2; j++)
                        y[(c * (H / 2) + i) * (W / 2) + j] = (a[(c * H + 2 * i) * W + 2 * j] + a[(c * H + 2 * i) * W + 2 * j + 1]
                            + a[(c * H + 2 * i + 1) * W + 2 * j] + a[(c * H + 2 * i + 1) * W + 2 * j + 1]) / 4;
            return y;
        }),
        "GlobalAveragePool" => new(op, 1, [], [1, C, 1, 1], (a, _) => Enumerable.Range(0, C).Select(c => a.Skip(c * H * W).Take(H * W).Average()).ToArray()),
        "Sigmoid" => new(op, 1, [], [1, C, H, W], (a, _) => a.Select(x => 1 / (1 + Math.Exp(-x))).ToArray()),
        "LeakyRelu" => new(op, 1, [Attribute.Float("alpha", 0.1f)], [1, C, H, W], (a, _) => a.Select(x => x < 0 ? 0.1 * x : x).ToArray()),
        "Softmax" => new(op, 1, [Attribute.Int("axis", -1)], [1, C, H, W], (a, _) =>
        {
            var y = new double[a.Length];
            for (int row = 0; row < a.Length / W; row++)
            {
                var e = a.Skip(row * W).Take(W).Select(Math.Exp).ToArray();
                for (int j = 0; j < W; j++) y[row * W + j] = e[j] / e.Sum();
            }
            return y;
        }),
        _ => throw new ArgumentException(op),
    };

    [Theory]
    [InlineData("Add", "QLinearAdd")]
    [InlineData("Mul", "QLinearMul")]
    [InlineData("Concat", "QLinearConcat")]
    [InlineData("AveragePool", "QLinearAveragePool")]
    [InlineData("GlobalAveragePool", "QLinearGlobalAveragePool")]
    [InlineData("Sigmoid", "QLinearSigmoid")]
    [InlineData("LeakyRelu", "QLinearLeakyRelu")]
    [InlineData("Softmax", "QLinearSoftmax")]
    public void QuantizesTheInputsAndOutput_MatchingTheFakeQuantReference_AndOrtRunsItsIntegerKernel(string op, string kernel)
    {
        var c = For(op);
        var b = new GraphBuilder(opset: 17);
        var inputs = Enumerable.Range(0, c.Inputs).Select(i => b.Input("x" + i, DataType.Float, 1, C, H, W)).ToArray();
        b.Output(b.Op(op, inputs, c.Attributes), "y", DataType.Float, c.OutDims.Select(d => (Dim)d).ToArray());
        using var model = b.Build();
        var xs = Enumerable.Range(0, c.Inputs).Select(i => RandomFloats(40 + i, N, -3 + i, 2 + 2 * i)).ToArray();
        var feeds = Enumerable.Range(0, c.Inputs).ToDictionary(i => "x" + i, i => Tensor.FromFloats(xs[i], 1, C, H, W));
        var ranges = MeasureRanges(model, feeds);

        Assert.True(VerifiedPass.Run(new InsertQdqPass(), model, new InsertQdqOptions { OpTypes = [op] }, Context(ranges)).Modified);

        // Structure: every data input read through a DequantizeLinear, the output quantized (its DQ keeps the name y).
        var node = model.Graph.Nodes.Single(n => n.OpType == op);
        Assert.All(node.Inputs, v => Assert.Equal("DequantizeLinear", v!.Producer!.OpType));
        Assert.Equal("QuantizeLinear", node.Output.Uses.Single().Node.OpType);
        Assert.Equal(c.Inputs + 1, Count(model, "QuantizeLinear"));
        Assert.Equal("y", model.Graph.Outputs[0].Name);

        // Reference: fake-quantize the inputs, apply the op in double, fake-quantize with the output's parameters.
        var fq = Enumerable.Range(0, c.Inputs).Select(i =>
        {
            var (s, z) = Uint8Params(xs[i].Min(), xs[i].Max());
            return xs[i].Select(v => FakeQuant(v, s, z, 0, 255)).ToArray();
        }).ToArray();
        var (sy, zy) = Uint8Params(ranges.Ranges["y"].Min, ranges.Ranges["y"].Max);
        var expected = c.Reference(fq[0], c.Inputs > 1 ? fq[1] : []).Select(v => FakeQuant((float)v, sy, zy, 0, 255)).ToArray();
        WithinStep(expected, NumericAssert.Run(model, feeds)["y"], sy * 1.0001, "y");

        var report = FusionAudit.Run(model);
        Assert.True(report.Kernels(kernel) == 1, $"ORT did not form {kernel}:\n{report}");
        // The only DequantizeLinear left is the graph output's.
        Assert.True(report.Unfused.All(u => u.Consumers.Count == 0), report.ToString());
    }

    [Fact]
    public void QuantizesAnAddFollowedByARelu_AfterTheRelu_SoOrtRemovesTheRelu()
    {
        var b = new GraphBuilder(opset: 17);
        var x0 = b.Input("x0", DataType.Float, 1, C, H, W);
        var x1 = b.Input("x1", DataType.Float, 1, C, H, W);
        b.Output(b.Op("Relu", b.Op("Add", x0, x1)), "y", DataType.Float, 1, C, H, W);
        using var model = b.Build();
        var feeds = new Dictionary<string, Tensor>
        {
            ["x0"] = Tensor.FromFloats(RandomFloats(50, N, -2, 2), 1, C, H, W),
            ["x1"] = Tensor.FromFloats(RandomFloats(51, N, -1, 1), 1, C, H, W),
        };

        VerifiedPass.Run(new InsertQdqPass(), model, new InsertQdqOptions { OpTypes = ["Add"] }, Context(MeasureRanges(model, feeds)));

        var add = model.Graph.Nodes.Single(n => n.OpType == "Add");
        Assert.Equal("Relu", add.Output.Uses.Single().Node.OpType);
        var q = model.Graph.Nodes.Single(n => n.OpType == "Relu").Output.Uses.Single().Node;
        Assert.Equal("QuantizeLinear", q.OpType);
        Assert.Equal(0, q.Inputs[2]!.Const!.AsSpan<byte>()[0]);
        var report = FusionAudit.Run(model);
        Assert.Equal(1, report.Kernels("QLinearAdd"));
    }

    [Fact]
    public void ARecipeListingAdd_CalibratesWhatTheAddReads_WithoutObservingEveryTensor()
    {
        var b = new GraphBuilder(opset: 17);
        var x0 = b.Input("x0", DataType.Float, 1, C, H, W);
        var x1 = b.Input("x1", DataType.Float, 1, C, H, W);
        b.Output(b.Op("Add", b.Op("Sigmoid", x0), b.Op("Tanh", x1)), "y", DataType.Float, 1, C, H, W);
        using var model = b.Build();
        using var folder = new ScratchFolder();
        // A folder with one NAME.npy per input, batch along axis 0.
        string data = folder.File("calib");
        Directory.CreateDirectory(data);
        Calibration.NpyFiles.WriteFloats(Path.Combine(data, "x0.npy"), [3, C, H, W], RandomFloats(55, 3 * N, -2, 2));
        Calibration.NpyFiles.WriteFloats(Path.Combine(data, "x1.npy"), [3, C, H, W], RandomFloats(56, 3 * N, -2, 2));
        var recipe = Passes.Recipes.RecipeLoader.Parse("""
            name: t
            passes:
              - calibrate: {method: minmax}
              - insert-qdq: {op-types: [Add]}
            """, "t.yaml");
        var context = new Passes.PassContext();
        context.SetAnalysis(new Passes.Calibration.CalibrationSettings { Data = data });

        new Passes.PassManager(recipe.Steps).Run(model, context);

        // The calibrate step saw the insert-qdq step's op types: both Add inputs and its output got ranges.
        var add = model.Graph.Nodes.Single(n => n.OpType == "Add");
        Assert.All(add.Inputs, v => Assert.Equal("DequantizeLinear", v!.Producer!.OpType));
        Assert.Equal("QuantizeLinear", add.Output.Uses.Single().Node.OpType);
        Assert.Equal(1, FusionAudit.Run(model).Kernels("QLinearAdd"));
    }

    [Fact]
    public void LeavesAMulByAConstant_Float_AndSaysWhy()
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 1, C, H, W);
        b.Output(b.Op("Mul", x, b.Constant(Tensor.FromFloats([0.5f], 1))), "y", DataType.Float, 1, C, H, W);
        using var model = b.Build();
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(RandomFloats(52, N, -1, 1), 1, C, H, W) };
        var context = Context(MeasureRanges(model, feeds));

        Assert.False(VerifiedPass.Run(new InsertQdqPass(), model, new InsertQdqOptions { OpTypes = ["Mul"] }, context).Modified);

        Assert.Equal(0, Count(model, "QuantizeLinear"));
        Assert.Contains("is a constant", Assert.Single(context.Misses["quantize"]).Key);
    }

    [Fact]
    public void LeavesAddFloat_ByDefault()
    {
        var b = new GraphBuilder(opset: 17);
        var x0 = b.Input("x0", DataType.Float, 1, C, H, W);
        var x1 = b.Input("x1", DataType.Float, 1, C, H, W);
        b.Output(b.Op("Add", x0, x1), "y", DataType.Float, 1, C, H, W);
        using var model = b.Build();
        var feeds = new Dictionary<string, Tensor>
        {
            ["x0"] = Tensor.FromFloats(RandomFloats(53, N, -2, 2), 1, C, H, W),
            ["x1"] = Tensor.FromFloats(RandomFloats(54, N, -1, 1), 1, C, H, W),
        };

        Assert.False(VerifiedPass.Run(new InsertQdqPass(), model, Context(MeasureRanges(model, feeds))).Modified);
        Assert.DoesNotContain("Add", InsertQdqPass.DefaultOpTypes);
    }

    [Theory]
    [InlineData("Resize")]
    [InlineData("Gather")]
    public void GivesAPassThroughOpOneScaleOnBothSides_SoOrtKeepsTheTensorInIntegers(string op)
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 1, 3, 8, 8);
        var h = b.Op("Relu", b.Op("Conv", [x, b.Constant(Tensor.FromFloats(RandomFloats(55, 4 * 3 * 9, -0.5f, 0.5f), 4, 3, 3, 3))],
            [Attribute.Ints("pads", [1, 1, 1, 1])]));
        var p = op == "Resize"
            ? b.Op("Resize", [h, null, b.Constant(Tensor.FromFloats([1, 1, 2, 2], 4))], [Attribute.String("mode", "nearest")])
            : b.Op("Gather", [h, b.Constant(Tensor.FromInt64s([0, 2], 2))], [Attribute.Int("axis", 1)]);
        long channels = op == "Resize" ? 4 : 2, size = op == "Resize" ? 16 : 8;
        var y = b.Op("Conv", [p, b.Constant(Tensor.FromFloats(RandomFloats(56, 2 * (int)channels * 9, -0.5f, 0.5f), 2, channels, 3, 3))]);
        b.Output(y, "y", DataType.Float, 1, 2, size - 2, size - 2);
        using var model = b.Build();
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(RandomFloats(57, 3 * 64, -1, 1), 1, 3, 8, 8) };
        var floatOutput = NumericAssert.Run(model, feeds)["y"];

        VerifiedPass.Run(new InsertQdqPass(), model, Context(MeasureRanges(model, feeds)));

        var node = model.Graph.Nodes.Single(n => n.OpType == op);
        var before = node.Inputs[0]!.Producer!;
        var after = node.Output.Uses.Single().Node;
        Assert.Equal("DequantizeLinear", before.OpType);
        Assert.Equal("QuantizeLinear", after.OpType);
        Assert.Equal(before.Inputs[1]!.Const!.ToFloatArray(), after.Inputs[1]!.Const!.ToFloatArray());
        NumericAssert.Close(floatOutput, NumericAssert.Run(model, feeds)["y"], 0.05, "y");

        var report = AuditFused(model);
        Assert.Equal(2, report.Kernels("QLinearConv"));
        Assert.True(report.Unfused.All(u => u.Consumers.Count == 0), report.ToString());
    }
}
