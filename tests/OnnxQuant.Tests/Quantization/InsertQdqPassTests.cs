using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Runtime.Calibration.Statistics;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Runtime.Audit;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization;

public class InsertQdqPassTests
{
    [Fact]
    public void QuantizesMatMul_WithPerChannelInt8Weights_MatchingTheFakeQuantReference_AndOrtFusesIt()
    {
        const int M = 4, K = 16, N = 8;
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, M, K);
        float[] w = RandomFloats(1, K * N, -1, 1);
        b.Output(b.Op("MatMul", x, b.Constant(Tensor.FromFloats(w, K, N), "w")), "y", DataType.Float, M, N);
        using var model = b.Build();
        float[] xs = RandomFloats(2, M * K, -2, 3);
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(xs, M, K) };

        Assert.True(VerifiedPass.Run(new InsertQdqPass(), model, Context(MeasureRanges(model, feeds))).Modified);

        Assert.Equal(1, Count(model, "QuantizeLinear"));
        Assert.Equal(2, Count(model, "DequantizeLinear"));
        var matMul = model.Graph.Nodes.Single(n => n.OpType == "MatMul");
        var weightDq = matMul.Inputs[1]!.Producer!;
        Assert.Equal("DequantizeLinear", weightDq.OpType);
        Assert.Equal(DataType.Int8, weightDq.Inputs[0]!.Const!.ElementType);
        Assert.Equal(1, weightDq.GetInt("axis", -1));
        Assert.Equal([N], weightDq.Inputs[1]!.Const!.Dims.ToArray());
        Assert.DoesNotContain(model.Graph.Constants, c => c.Const!.ElementType == DataType.Float && c.Const.ElementCount == K * N);

        var (sx, zx) = Uint8Params(xs.Min(), xs.Max());
        var (wq, _) = FakeQuantWeight(w, [K, N], 1);
        var expected = new double[M * N];
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++)
                for (int k = 0; k < K; k++)
                    expected[m * N + n] += FakeQuant(xs[m * K + k], sx, zx, 0, 255) * wq[k * N + n];
        WithinStep(expected, NumericAssert.Run(model, feeds)["y"], sx * w.Max(Math.Abs), "y");

        var report = AuditFused(model);
        // A float output: ORT takes the integer product and scales it back to float in one kernel.
        Assert.Equal(1, report.Kernels("MatMulIntegerToFloat"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void QuantizesGemm_WithInt32Bias_OnTheOutputChannelAxis_AndOrtRunsQGemm(bool transB)
    {
        const int M = 3, K = 16, N = 8;
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, M, K);
        float[] w = RandomFloats(3, K * N, -0.5f, 0.5f);
        float[] bias = RandomFloats(4, N, -1, 1);
        long[] wDims = transB ? [N, K] : [K, N];
        var y = b.Op("Gemm", [x, b.Constant(Tensor.FromFloats(w, wDims), "w"), b.Constant(Tensor.FromFloats(bias, N), "bias")],
            [Attribute.Int("transB", transB ? 1 : 0)]);
        b.Output(y, "y", DataType.Float, M, N);
        using var model = b.Build();
        float[] xs = RandomFloats(5, M * K, -1, 4);
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(xs, M, K) };

        VerifiedPass.Run(new InsertQdqPass(), model, Context(MeasureRanges(model, feeds)));

        var gemm = model.Graph.Nodes.Single(n => n.OpType == "Gemm");
        int axis = transB ? 0 : 1;
        Assert.Equal(axis, gemm.Inputs[1]!.Producer!.GetInt("axis", -1));
        var biasDq = gemm.Inputs[2]!.Producer!;
        Assert.Equal("DequantizeLinear", biasDq.OpType);
        Assert.Equal(DataType.Int32, biasDq.Inputs[0]!.Const!.ElementType);
        Assert.All(biasDq.Inputs[2]!.Const!.AsSpan<int>().ToArray(), z => Assert.Equal(0, z));

        var (sx, zx) = Uint8Params(xs.Min(), xs.Max());
        var (wq, ws) = FakeQuantWeight(w, wDims, axis);
        Assert.Equal(ws.Select(s => sx * s), biasDq.Inputs[1]!.Const!.ToFloatArray());
        var expected = new double[M * N];
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++)
            {
                float bs = sx * ws[n];
                double sum = Math.Round(bias[n] / (double)bs, MidpointRounding.ToEven) * bs;
                for (int k = 0; k < K; k++)
                    sum += FakeQuant(xs[m * K + k], sx, zx, 0, 255) * wq[transB ? n * K + k : k * N + n];
                expected[m * N + n] = sum;
            }
        WithinStep(expected, NumericAssert.Run(model, feeds)["y"], sx * w.Max(Math.Abs), "y");

        Assert.Equal(1, AuditFused(model).Kernels("QGemm"));
    }

    [Fact]
    public void QuantizesConv_WithInt32BiasAndAQuantizedOutput_MatchingTheFakeQuantReference_AndOrtRunsQLinearConv()
    {
        const int C = 3, H = 6, W = 6, M = 4;
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 1, C, H, W);
        float[] w = RandomFloats(6, M * C * 9, -0.5f, 0.5f);
        float[] bias = RandomFloats(7, M, -1, 1);
        var y = b.Op("Conv", [x, b.Constant(Tensor.FromFloats(w, M, C, 3, 3), "w"), b.Constant(Tensor.FromFloats(bias, M), "bias")],
            [Attribute.Ints("pads", [1, 1, 1, 1])]);
        b.Output(y, "y", DataType.Float, 1, M, H, W);
        using var model = b.Build();
        float[] xs = RandomFloats(8, C * H * W, -1, 2);
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(xs, 1, C, H, W) };
        var ranges = MeasureRanges(model, feeds);

        VerifiedPass.Run(new InsertQdqPass(), model, Context(ranges));

        Assert.Equal(2, Count(model, "QuantizeLinear"));
        var conv = model.Graph.Nodes.Single(n => n.OpType == "Conv");
        Assert.Equal(0, conv.Inputs[1]!.Producer!.GetInt("axis", -1));
        Assert.Equal(DataType.Int32, conv.Inputs[2]!.Producer!.Inputs[0]!.Const!.ElementType);
        Assert.Equal("y", model.Graph.Outputs[0].Name);
        Assert.Equal("DequantizeLinear", model.Graph.Outputs[0].Producer!.OpType);

        var (sx, zx) = Uint8Params(xs.Min(), xs.Max());
        var (sy, zy) = Uint8Params(ranges.Ranges["y"].Min, ranges.Ranges["y"].Max);
        var (wq, ws) = FakeQuantWeight(w, [M, C, 3, 3], 0);
        var expected = new double[M * H * W];
        for (int m = 0; m < M; m++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++)
                {
                    float bs = sx * ws[m];
                    double sum = Math.Round(bias[m] / (double)bs, MidpointRounding.ToEven) * bs;
                    for (int c = 0; c < C; c++)
                        for (int di = 0; di < 3; di++)
                            for (int dj = 0; dj < 3; dj++)
                            {
                                int r = i + di - 1, s = j + dj - 1;
                                if (r < 0 || r >= H || s < 0 || s >= W) continue;
                                sum += FakeQuant(xs[(c * H + r) * W + s], sx, zx, 0, 255) * wq[((m * C + c) * 3 + di) * 3 + dj];
                            }
                    expected[(m * H + i) * W + j] = FakeQuant((float)sum, sy, zy, 0, 255);
                }
        WithinStep(expected, NumericAssert.Run(model, feeds)["y"], sy * 1.0001, "y");

        Assert.Equal(1, AuditFused(model).Kernels("QLinearConv"));
    }

    [Fact]
    public void QuantizesAConvReluConvChain_AfterTheRelu_SoOrtRunsBothConvsInIntegers()
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 1, 3, 8, 8);
        var pads = Attribute.Ints("pads", [1, 1, 1, 1]);
        var h = b.Op("Conv", [x, b.Constant(Tensor.FromFloats(RandomFloats(9, 8 * 3 * 9, -0.5f, 0.5f), 8, 3, 3, 3)),
            b.Constant(Tensor.FromFloats(RandomFloats(10, 8, -0.2f, 0.2f), 8))], [pads]);
        var r = b.Op("Relu", h);
        var y = b.Op("Conv", [r, b.Constant(Tensor.FromFloats(RandomFloats(11, 4 * 8 * 9, -0.5f, 0.5f), 4, 8, 3, 3)),
            b.Constant(Tensor.FromFloats(RandomFloats(12, 4, -0.2f, 0.2f), 4))], [pads]);
        b.Output(y, "y", DataType.Float, 1, 4, 8, 8);
        using var model = b.Build();
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(RandomFloats(13, 3 * 64, -1, 1), 1, 3, 8, 8) };
        var floatOutput = NumericAssert.Run(model, feeds)["y"];

        VerifiedPass.Run(new InsertQdqPass(), model, Context(MeasureRanges(model, feeds)));

        // x, the Relu's output (not the first Conv's), and y.
        Assert.Equal(3, Count(model, "QuantizeLinear"));
        var relu = model.Graph.Nodes.Single(n => n.OpType == "Relu");
        var reluQ = Assert.Single(relu.Output.Uses).Node;
        Assert.Equal("QuantizeLinear", reluQ.OpType);
        Assert.Equal(0, reluQ.Inputs[2]!.Const!.AsSpan<byte>()[0]);
        Assert.Equal("Relu", model.Graph.Nodes.First(n => n.OpType == "Conv").Output.Uses.Single().Node.OpType);
        // Quantized to 8 bits in three places: a few percent of the output's range, no more.
        NumericAssert.Close(floatOutput, NumericAssert.Run(model, feeds)["y"], 0.05, "y");

        var report = AuditFused(model);
        Assert.Equal(2, report.Kernels("QLinearConv"));
    }

    [Fact]
    public void GivesMaxPoolOneScaleOnBothSides_SoOrtKeepsTheTensorInIntegers()
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 1, 3, 8, 8);
        var h = b.Op("Relu", b.Op("Conv", [x, b.Constant(Tensor.FromFloats(RandomFloats(14, 4 * 3 * 9, -0.5f, 0.5f), 4, 3, 3, 3))],
            [Attribute.Ints("pads", [1, 1, 1, 1])]));
        var p = b.Op("MaxPool", [h], [Attribute.Ints("kernel_shape", [2, 2]), Attribute.Ints("strides", [2, 2])]);
        var y = b.Op("Conv", [p, b.Constant(Tensor.FromFloats(RandomFloats(15, 2 * 4 * 9, -0.5f, 0.5f), 2, 4, 3, 3))]);
        b.Output(y, "y", DataType.Float, 1, 2, 2, 2);
        using var model = b.Build();
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(RandomFloats(16, 3 * 64, -1, 1), 1, 3, 8, 8) };

        VerifiedPass.Run(new InsertQdqPass(), model, Context(MeasureRanges(model, feeds)));

        var pool = model.Graph.Nodes.Single(n => n.OpType == "MaxPool");
        var before = pool.Inputs[0]!.Producer!;
        var after = pool.Output.Uses.Single().Node;
        Assert.Equal("DequantizeLinear", before.OpType);
        Assert.Equal("QuantizeLinear", after.OpType);
        Assert.Equal(before.Inputs[1]!.Const!.ToFloatArray(), after.Inputs[1]!.Const!.ToFloatArray());

        var report = AuditFused(model);
        Assert.Equal(2, report.Kernels("QLinearConv"));
        // Only the DequantizeLinear of the graph output is left: none around the MaxPool.
        Assert.True(report.Unfused.All(u => u.Consumers.Count == 0), report.ToString());
    }

    [Fact]
    public void QuantizesTheOutputOfAMatMulThatFeedsAnother_SoOrtRunsQLinearMatMul()
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 4, 16);
        var h = b.Op("MatMul", x, b.Constant(Tensor.FromFloats(RandomFloats(24, 16 * 8, -1, 1), 16, 8)));
        var y = b.Op("MatMul", h, b.Constant(Tensor.FromFloats(RandomFloats(25, 8 * 4, -1, 1), 8, 4)));
        b.Output(y, "y", DataType.Float, 4, 4);
        using var model = b.Build();
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(RandomFloats(26, 64, -1, 1), 4, 16) };
        var floatOutput = NumericAssert.Run(model, feeds)["y"];

        VerifiedPass.Run(new InsertQdqPass(), model, Context(MeasureRanges(model, feeds)));

        Assert.Equal(2, Count(model, "QuantizeLinear"));
        Assert.Equal("QuantizeLinear", model.Graph.Nodes.First(n => n.OpType == "MatMul").Output.Uses.Single().Node.OpType);
        NumericAssert.Close(floatOutput, NumericAssert.Run(model, feeds)["y"], 0.05, "y");
        var report = AuditFused(model);
        Assert.Equal(1, report.Kernels("QLinearMatMul"));
        Assert.Equal(1, report.Kernels("MatMulIntegerToFloat"));
    }

    [Fact]
    public void QuantizesConvTranspose_OnlyWhenAsked_WithWeightsPerChannelAlongAxis1_AndTheAuditShowsOrtLeavesItFloat()
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 1, 4, 5, 5);
        var y = b.Op("ConvTranspose", [x, b.Constant(Tensor.FromFloats(RandomFloats(27, 4 * 3 * 9, -0.5f, 0.5f), 4, 3, 3, 3)),
            b.Constant(Tensor.FromFloats(RandomFloats(28, 3, -0.2f, 0.2f), 3))], [Attribute.Ints("strides", [2, 2])]);
        b.Output(y, "y", DataType.Float, 1, 3, 11, 11);
        using var model = b.Build();
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(RandomFloats(29, 100, -1, 1), 1, 4, 5, 5) };
        var floatOutput = NumericAssert.Run(model, feeds)["y"];

        VerifiedPass.Run(new InsertQdqPass(), model, new InsertQdqOptions { OpTypes = ["ConvTranspose"] }, Context(MeasureRanges(model, feeds)));

        var convT = model.Graph.Nodes.Single(n => n.OpType == "ConvTranspose");
        Assert.Equal(1, convT.Inputs[1]!.Producer!.GetInt("axis", -1));
        Assert.Equal([3L], convT.Inputs[1]!.Producer!.Inputs[1]!.Const!.Dims.ToArray());
        Assert.Equal(DataType.Int32, convT.Inputs[2]!.Producer!.Inputs[0]!.Const!.ElementType);
        NumericAssert.Close(floatOutput, NumericAssert.Run(model, feeds)["y"], 0.03, "y");
        // ONNX Runtime's CPU provider has no QDQ ConvTranspose fusion (per channel or per tensor): the audit must say so.
        var report = FusionAudit.Run(model);
        Assert.Empty(report.IntegerKernels);
        Assert.Equal(3, report.UnfusedOnComputePath.Count);
        Assert.All(report.UnfusedOnComputePath, u => Assert.Equal(["ConvTranspose"], u.Consumers));
    }

    [Fact]
    public void LeavesConvTransposeFloat_ByDefault()
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 1, 4, 5, 5);
        b.Output(b.Op("ConvTranspose", x, b.Constant(Tensor.FromFloats(RandomFloats(30, 4 * 3 * 9, -0.5f, 0.5f), 4, 3, 3, 3))),
            "y", DataType.Float, 1, 3, 7, 7);
        using var model = b.Build();
        var ranges = new DictionaryRanges();
        ranges.Ranges["x"] = (-1, 1);

        Assert.False(VerifiedPass.Run(new InsertQdqPass(), model, Context(ranges)).Modified);
        Assert.Equal(0, Count(model, "DequantizeLinear"));
    }

    [Fact]
    public void UsesInt8ActivationsAndPerTensorWeights_WhenAsked()
    {
        using var model = SmallMatMul(17, out var feeds);
        var floatOutput = NumericAssert.Run(model, feeds)["y"];
        var options = new InsertQdqOptions { ActivationType = QdqActivationType.Int8, WeightGranularity = QdqWeightGranularity.PerTensor };

        VerifiedPass.Run(new InsertQdqPass(), model, options, Context(MeasureRanges(model, feeds)));

        var matMul = model.Graph.Nodes.Single(n => n.OpType == "MatMul");
        Assert.Equal(DataType.Int8, matMul.Inputs[0]!.Producer!.Inputs[2]!.Const!.ElementType);
        Assert.Null(matMul.Inputs[1]!.Producer!.GetAttribute("axis"));
        Assert.Equal(0, matMul.Inputs[1]!.Producer!.Inputs[1]!.Const!.Rank);
        NumericAssert.Close(floatOutput, NumericAssert.Run(model, feeds)["y"], 0.03, "y");
        AuditFused(model);
    }

    [Fact]
    public void LeavesAGemmWithTransA_Float_AndSaysWhy()
    {
        // The linear-layer view reads x·B only: with transA the first input is xᵀ.
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 4, 3);
        b.Output(b.Op("Gemm", [x, b.Constant(Tensor.FromFloats(RandomFloats(31, 8, -1, 1), 4, 2), "w")], [Attribute.Int("transA", 1)]), "y", DataType.Float, 3, 2);
        using var model = b.Build();
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(RandomFloats(32, 12, -1, 1), 4, 3) };
        var context = Context(MeasureRanges(model, feeds));

        Assert.False(VerifiedPass.Run(new InsertQdqPass(), model, context).Modified);

        Assert.Equal(0, Count(model, "QuantizeLinear"));
        Assert.Equal(1, context.Counters.GetValueOrDefault("skipped"));
        Assert.Equal("it is a Gemm with transA = 1", Assert.Single(context.Misses["quantize"]).Key);
    }

    [Fact]
    public void LeavesANodeWithoutACalibratedRange_Float_AndSaysWhy()
    {
        using var model = SmallMatMul(17, out _);
        var context = Context(new DictionaryRanges());

        Assert.False(VerifiedPass.Run(new InsertQdqPass(), model, context).Modified);

        Assert.Equal(0, Count(model, "QuantizeLinear"));
        Assert.Equal(1, context.Counters.GetValueOrDefault("no-range"));
        Assert.Contains("no calibrated range", Assert.Single(context.Misses["quantize"]).Key);
    }

    [Fact]
    public void TakesTheRangesOfTheCalibratePass_WhenNoneAreGivenDirectly()
    {
        using var model = SmallMatMul(17, out _);
        var context = new PassContext();
        var statistics = new CalibrationStatistics();
        var x = new TensorStatistics("x", ObserverSpec.MinMaxOnly);
        x.Observe(new float[] { -1f, 0.5f, 2f }, new long[] { 3 });
        statistics.Add(x);
        context.SetAnalysis(CalibrationResult.Bind(model, statistics, new RangeOptions()));

        Assert.True(VerifiedPass.Run(new InsertQdqPass(), model, context).Modified);

        var q = model.Graph.Nodes.Single(n => n.OpType == "QuantizeLinear");
        Assert.Equal(3f / 255f, q.Inputs[1]!.Const!.ToFloatArray()[0]);
        Assert.Equal(85, q.Inputs[2]!.Const!.AsSpan<byte>()[0]);
    }

    [Fact]
    public void RefusesAModelThatIsAlreadyQuantized()
    {
        using var model = SmallMatMul(17, out var feeds);
        var ranges = MeasureRanges(model, feeds);
        VerifiedPass.Run(new InsertQdqPass(), model, Context(ranges));

        var e = Assert.Throws<OnnxQuantException>(() => VerifiedPass.Run(new InsertQdqPass(), model, Context(ranges)));
        Assert.Contains("already quantized", e.Message);
    }

    [Fact]
    public void RefusesOpsetsBefore13_AndSaysToUpgrade()
    {
        using var model = SmallMatMul(12, out var feeds);
        var e = Assert.Throws<OnnxQuantException>(() => VerifiedPass.Run(new InsertQdqPass(), model, Context(MeasureRanges(model, feeds))));
        Assert.Contains("upgrade-opset", e.Message);
        Assert.Equal(0, Count(model, "QuantizeLinear"));
    }

    [Fact]
    public void Fails_WithoutActivationRanges()
    {
        using var model = SmallMatMul(17, out _);
        var e = Assert.Throws<OnnxQuantException>(() => VerifiedPass.Run(new InsertQdqPass(), model, new PassContext()));
        Assert.Contains("calibrat", e.Message);
    }

    [Fact]
    public void LeavesNodesMatchingAnExcludedNamePattern_Float()
    {
        using var model = SmallMatMul(17, out var feeds);
        model.Graph.Nodes.Single().Name = "head_matmul";
        var context = Context(MeasureRanges(model, feeds));

        var result = VerifiedPass.Run(new InsertQdqPass(), model, new InsertQdqOptions { ExcludeNodes = ["head*"] }, context);

        Assert.False(result.Modified);
        Assert.Equal(0, Count(model, "DequantizeLinear"));
        Assert.Equal(1, context.Counters.GetValueOrDefault("excluded"));
    }

    [Fact]
    public void LeavesNodesInsideIfBranches_Float_AndCountsThem()
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 4, 16);
        var cond = b.Input("cond", DataType.Bool);
        var w = b.Constant(Tensor.FromFloats(RandomFloats(17, 16 * 8, -1, 1), 16, 8), "w");
        b.Output(b.Op("MatMul", x, w), "main", DataType.Float, 4, 8);
        var then = b.Subgraph("then");
        then.Output(then.Op("MatMul", x, w), "then_y", DataType.Float, 4, 8);
        var otherwise = b.Subgraph("else");
        otherwise.Output(otherwise.Op("Relu", otherwise.Op("MatMul", x, w)), "else_y", DataType.Float, 4, 8);
        b.Output(b.Op("If", [cond], [Attribute.FromGraph("then_branch", then.Graph), Attribute.FromGraph("else_branch", otherwise.Graph)]),
            "branch", DataType.Float, 4, 8);
        using var model = b.Build();
        var ranges = new DictionaryRanges();
        ranges.Ranges["x"] = (-1, 1);
        var context = Context(ranges);

        VerifiedPass.Run(new InsertQdqPass(), model, context);

        Assert.Equal(1, context.Counters.GetValueOrDefault("quantized"));
        Assert.Equal(2, context.Counters.GetValueOrDefault("skipped-subgraph"));
        var inner = model.AllGraphs().Where(g => g != model.Graph).SelectMany(g => g.Nodes).Where(n => n.OpType == "MatMul").ToList();
        Assert.Equal(2, inner.Count);
        Assert.All(inner, n => Assert.Same(x, n.Inputs[0]));
        Assert.All(inner, n => Assert.True(n.Inputs[1]!.IsConstant && n.Inputs[1]!.ElementType == DataType.Float));
        var feeds = new Dictionary<string, Tensor>
        {
            ["x"] = Tensor.FromFloats(RandomFloats(18, 64, -1, 1), 4, 16),
            ["cond"] = Tensor.FromSpan(DataType.Bool, [(byte)1], []),
        };
        Assert.Equal(2, NumericAssert.Run(model, feeds).Count);
    }

    [Fact]
    public void StoresScalesAsFloat16_InFloat16Models()
    {
        const int M = 4, K = 16, N = 8;
        var b = new GraphBuilder(opset: 19);
        var x = b.Input("x", DataType.Float16, M, K);
        float[] w = RandomFloats(19, K * N, -1, 1);
        b.Output(b.Op("MatMul", x, b.Constant(TensorConversions.FromFloats(DataType.Float16, w, [K, N]), "w")), "y", DataType.Float16, M, N);
        using var model = b.Build();
        float[] xs = RandomFloats(20, M * K, -2, 3).Select(v => (float)(Half)v).ToArray();
        var ranges = new DictionaryRanges();
        ranges.Ranges["x"] = (xs.Min(), xs.Max());

        VerifiedPass.Run(new InsertQdqPass(), model, Context(ranges));

        Assert.All(model.Graph.Nodes.Where(n => n.OpType is "QuantizeLinear" or "DequantizeLinear"),
            n => Assert.Equal(DataType.Float16, n.Inputs[1]!.Const!.ElementType));
        var feeds = new Dictionary<string, Tensor> { ["x"] = TensorConversions.FromFloats(DataType.Float16, xs, [M, K]) };
        var y = NumericAssert.Run(model, feeds)["y"];
        Assert.Equal(DataType.Float16, y.ElementType);
        // Scales rounded to float16 differ from the float reference by < 0.1%, the float16 output by its own ulp.
        var (sx, _) = Uint8Params(xs.Min(), xs.Max());
        double[] reference = new double[M * N];
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++)
                for (int k = 0; k < K; k++)
                    reference[m * N + n] += xs[m * K + k] * (double)(float)(Half)w[k * N + n];
        WithinStep(reference, y, 2 * sx * w.Max(Math.Abs) * K, "y");
    }

    [Fact]
    public void FailsOnFloat16Models_BelowOpset19()
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float16, 2, 4);
        b.Output(b.Op("MatMul", x, b.Constant(TensorConversions.FromFloats(DataType.Float16, RandomFloats(21, 8, -1, 1), [4, 2]))),
            "y", DataType.Float16, 2, 2);
        using var model = b.Build();
        var ranges = new DictionaryRanges();
        ranges.Ranges["x"] = (-1, 1);

        var e = Assert.Throws<OnnxQuantException>(() => VerifiedPass.Run(new InsertQdqPass(), model, Context(ranges)));
        Assert.Contains("19", e.Message);
    }

    private static Model SmallMatMul(long opset, out Dictionary<string, Tensor> feeds)
    {
        var b = new GraphBuilder(opset: opset);
        var x = b.Input("x", DataType.Float, 2, 8);
        b.Output(b.Op("MatMul", x, b.Constant(Tensor.FromFloats(RandomFloats(22, 32, -1, 1), 8, 4))), "y", DataType.Float, 2, 4);
        feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(RandomFloats(23, 16, -1, 1), 2, 8) };
        return b.Build();
    }
}
