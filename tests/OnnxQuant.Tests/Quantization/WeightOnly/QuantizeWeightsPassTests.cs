using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes.Quantization.WeightOnly;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.QdqTestKit;
using static OnnxQuant.Tests.Quantization.WeightOnly.WeightOnlyTestKit;

namespace OnnxQuant.Tests.Quantization.WeightOnly;

public class QuantizeWeightsPassTests
{
    private const double FloatTolerance = 1e-4;

    private static (Model Model, float[] W, Dictionary<string, Tensor> Feeds, float[] X) MatMulModel(int m, int k, int n, int seed, long opset = 17)
    {
        var b = new GraphBuilder(opset: opset);
        var x = b.Input("x", DataType.Float, m, k);
        float[] w = RandomFloats(seed, k * n, -1, 1);
        b.Output(b.Op("MatMul", [x, b.Constant(Tensor.FromFloats(w, k, n), "w")], name: "mm"), "y", DataType.Float, m, n);
        float[] xs = RandomFloats(seed + 1, m * k, -2, 2);
        return (b.Build(), w, new() { ["x"] = Tensor.FromFloats(xs, m, k) }, xs);
    }

    [Theory]
    [InlineData(4, true, 32)]
    [InlineData(4, false, 32)]
    [InlineData(8, true, 16)]
    [InlineData(8, false, 16)]
    [InlineData(2, true, 16)]
    public void MatMulNBits_MatchesTheDequantizedReference_WhenKIsNotAMultipleOfTheBlock(int bits, bool symmetric, int block)
    {
        const int M = 3, K = 40, N = 5;
        var (model, w, feeds, xs) = MatMulModel(M, K, N, seed: bits * 10 + (symmetric ? 1 : 0));
        using var _ = model;

        Run(model, new QuantizeWeightsOptions { Bits = bits, Symmetric = symmetric, BlockSize = block.ToString(), LmHead = bits.ToString() });

        var nbits = model.Graph.Nodes.Single();
        Assert.Equal("MatMulNBits", nbits.OpType);
        Assert.Equal("com.microsoft", nbits.Domain);
        Assert.Equal(K, nbits.GetInt("K", 0));
        Assert.Equal(N, nbits.GetInt("N", 0));
        Assert.Equal(bits, nbits.GetInt("bits", 0));
        int blocks = (K + block - 1) / block;
        Assert.Equal([N, blocks, block * bits / 8], nbits.Inputs[1]!.Const!.Dims.ToArray());
        Assert.Equal([N, blocks], nbits.Inputs[2]!.Const!.Dims.ToArray());
        Assert.Equal(symmetric ? 3 : 4, nbits.Inputs.Count);
        Assert.DoesNotContain(model.Graph.Constants, c => c.Const!.ElementType == DataType.Float && c.Const.ElementCount == K * N);

        var expected = Product(xs, FakeQuantKn(w, K, N, bits, block, symmetric), M, K, N);
        Matches(expected, NumericAssert.Run(model, feeds)["y"], FloatTolerance, "y");
    }

    [Theory]
    [InlineData(4, true)]
    [InlineData(4, false)]
    [InlineData(8, true)]
    public void DqFormat_FeedsTheMatMulABlockedDequantizeLinear_MatchingTheReference(int bits, bool symmetric)
    {
        const int M = 2, K = 40, N = 6;
        var (model, w, feeds, xs) = MatMulModel(M, K, N, seed: 50 + bits, opset: 21);
        using var _ = model;

        Run(model, new QuantizeWeightsOptions { Bits = bits, Symmetric = symmetric, Format = WeightOnlyFormat.Dq, LmHead = bits.ToString() });

        var dq = model.Graph.Nodes.Single(n => n.OpType == "MatMul").Inputs[1]!.Producer!;
        Assert.Equal("DequantizeLinear", dq.OpType);
        Assert.Equal(0, dq.GetInt("axis", -1));
        Assert.Equal(32, dq.GetInt("block_size", 0));
        var expectedType = (bits, symmetric) switch { (4, true) => DataType.Int4, (4, false) => DataType.UInt4, _ => DataType.Int8 };
        Assert.Equal(expectedType, dq.Inputs[0]!.Const!.ElementType);
        Assert.Equal([2, N], dq.Inputs[1]!.Const!.Dims.ToArray());

        var expected = Product(xs, FakeQuantKn(w, K, N, bits, 32, symmetric), M, K, N);
        Matches(expected, NumericAssert.Run(model, feeds)["y"], FloatTolerance, "y");
    }

    [Fact]
    public void DqFormat_IsRefused_BelowOpset21_WithTheFix()
    {
        var (model, _, _, _) = MatMulModel(2, 32, 4, seed: 3, opset: 17);
        using var _ = model;
        var e = Assert.Throws<OnnxQuantException>(() => Run(model, new QuantizeWeightsOptions { Format = WeightOnlyFormat.Dq }));
        Assert.Contains("opset >= 21", e.Message);
        Assert.Contains("upgrade-opset", e.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Gemm_WithTransBAlphaAndBias_BecomesMatMulNBitsWithABiasInput_MatchingTheReference(bool transB)
    {
        const int M = 3, K = 48, N = 7;
        const float Alpha = 0.5f;
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, M, K);
        float[] w = RandomFloats(70, K * N, -1, 1);
        float[] bias = RandomFloats(71, N, -1, 1);
        var stored = transB ? Transpose(w, K, N) : w;
        b.Output(b.Op("Gemm", [x, b.Constant(Tensor.FromFloats(stored, transB ? [N, K] : [K, N]), "w"), b.Constant(Tensor.FromFloats(bias, N), "c")],
            [Attribute.Int("transB", transB ? 1 : 0), Attribute.Float("alpha", Alpha)]), "y", DataType.Float, M, N);
        using var model = b.Build();
        float[] xs = RandomFloats(72, M * K, -2, 2);

        Run(model, new QuantizeWeightsOptions { LmHead = "4" });

        var nbits = model.Graph.Nodes.Single();
        Assert.Equal("MatMulNBits", nbits.OpType);
        Assert.Equal(6, nbits.Inputs.Count);
        Assert.Null(nbits.Inputs[4]);
        Assert.Equal(bias, nbits.Inputs[5]!.Const!.ToFloatArray());

        // alpha is folded into the weight (so into the scales) before quantizing.
        var expected = Product(xs, FakeQuantKn(w.Select(v => Alpha * v).ToArray(), K, N, 4, 32, true), M, K, N, bias.Select(v => (double)v).ToArray());
        Matches(expected, NumericAssert.Run(model, new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(xs, M, K) })["y"], FloatTolerance, "y");
    }

    [Theory]
    [InlineData(WeightOnlyFormat.MatMulNBits)]
    [InlineData(WeightOnlyFormat.Dq)]
    public void PerChannel_UsesOneScalePerOutputChannel_MatchingTheReference(WeightOnlyFormat format)
    {
        const int M = 2, K = 40, N = 6;
        var (model, w, feeds, xs) = MatMulModel(M, K, N, seed: 60, opset: 21);
        using var _ = model;

        Run(model, new QuantizeWeightsOptions { BlockSize = "per-channel", Format = format, LmHead = "4" });

        if (format == WeightOnlyFormat.MatMulNBits)
        {
            var nbits = model.Graph.Nodes.Single();
            // MatMulNBits has blocks only: one block of the next power of two >= K, padded with zeros.
            Assert.Equal(64, nbits.GetInt("block_size", 0));
            Assert.Equal([N, 1], nbits.Inputs[2]!.Const!.Dims.ToArray());
        }
        else
        {
            var dq = model.Graph.Nodes.Single(n => n.OpType == "DequantizeLinear");
            Assert.Null(dq.GetAttribute("block_size"));
            Assert.Equal(1, dq.GetInt("axis", -1));
            Assert.Equal([N], dq.Inputs[1]!.Const!.Dims.ToArray());
        }
        var expected = Product(xs, FakeQuantKn(w, K, N, 4, K, symmetric: true), M, K, N);
        Matches(expected, NumericAssert.Run(model, feeds)["y"], FloatTolerance, "y");
    }

    [Fact]
    public void Float16Model_GetsFloat16Scales_AndStaysWithinOneStepOfTheFloatProduct()
    {
        const int M = 2, K = 64, N = 8;
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float16, M, K);
        float[] w = RandomFloats(65, K * N, -1, 1).Select(v => (float)(Half)v).ToArray();
        b.Output(b.Op("MatMul", x, b.Constant(TensorConversions.FromFloats(DataType.Float16, w, [K, N]), "w")), "y", DataType.Float16, M, N);
        using var model = b.Build();
        float[] xs = RandomFloats(66, M * K, -1, 1).Select(v => (float)(Half)v).ToArray();

        Run(model, new QuantizeWeightsOptions { LmHead = "4" });

        var nbits = model.Graph.Nodes.Single();
        var scales = nbits.Inputs[2]!.Const!;
        Assert.Equal(DataType.Float16, scales.ElementType);
        double step = scales.ToFloatArray().Max(Math.Abs);
        var y = NumericAssert.Run(model, new Dictionary<string, Tensor> { ["x"] = TensorConversions.FromFloats(DataType.Float16, xs, [M, K]) })["y"];
        Assert.Equal(DataType.Float16, y.ElementType);
        var exact = Product(xs, w.Select(v => (double)v).ToArray(), M, K, N);
        var actual = y.ToFloatArray();
        for (int i = 0; i < actual.Length; i++)
        {
            double bound = step * Enumerable.Range(0, K).Sum(k => Math.Abs(xs[i / N * K + k])) + 2e-3 * exact.Magnitude[i];
            Assert.True(Math.Abs(actual[i] - exact.Y[i]) <= bound, $"y[{i}]: {actual[i]} vs {exact.Y[i]} (bound {bound:G3})");
        }
    }

    [Fact]
    public void Embedding_WithAWidthThatIsNotAMultipleOfTheBlock_BecomesABlockedDequantizeLinear()
    {
        const int V = 10, D = 40;
        var b = new GraphBuilder(opset: 21);
        var ids = b.Input("ids", DataType.Int64, 3);
        float[] e = RandomFloats(67, V * D, -1, 1);
        b.Output(b.Op("Gather", b.Constant(Tensor.FromFloats(e, V, D), "table"), ids), "h", DataType.Float, 3, D);
        using var model = b.Build();

        Run(model, new QuantizeWeightsOptions { Embedding = "4" });

        var dq = model.Graph.Nodes.Single(n => n.OpType == "Gather").Inputs[0]!.Producer!;
        Assert.Equal("DequantizeLinear", dq.OpType);
        Assert.Equal(1, dq.GetInt("axis", -1));
        long[] idx = [9, 0, 4];
        var h = NumericAssert.Run(model, new Dictionary<string, Tensor> { ["ids"] = Tensor.FromInt64s(idx, 3) })["h"].ToFloatArray();
        var eq = Transpose(FakeQuantKn(Transpose(e, V, D), D, V, 4, 32, symmetric: true), D, V);
        for (int i = 0; i < 3; i++)
            for (int d = 0; d < D; d++)
                Assert.Equal(eq[idx[i] * D + d], h[i * D + d], 1e-6);
    }

    [Theory]
    [InlineData(WeightOnlyFormat.MatMulNBits)]
    [InlineData(WeightOnlyFormat.Dq)]
    public void ASecondRun_ChangesNothing(WeightOnlyFormat format)
    {
        var (model, _, _, _) = MatMulModel(2, 32, 4, seed: 68, opset: 21);
        using var _ = model;
        var options = new QuantizeWeightsOptions { Format = format, LmHead = "4" };
        Run(model, options);
        int nodes = model.Graph.NodeCount, constants = model.Graph.Constants.Count;

        var context = new Passes.PassContext();
        Assert.False(VerifiedPass.Run(new QuantizeWeightsPass(), model, options, context).Modified);
        Assert.Equal(nodes, model.Graph.NodeCount);
        Assert.Equal(constants, model.Graph.Constants.Count);
    }

    [Fact]
    public void ExcludedNodes_StayFloat()
    {
        var (model, _, _, _) = MatMulModel(2, 32, 4, seed: 69);
        using var _ = model;

        var (context, _) = Run(model, new QuantizeWeightsOptions { ExcludeNodes = ["m?"], LmHead = "4" });

        Assert.Equal("MatMul", model.Graph.Nodes.Single().OpType);
        Assert.Equal(1, Counter(context, "excluded"));
    }

    [Fact]
    public void Gemm_WithBetaAndAFullC_AddsBetaTimesCAfterMatMulNBits()
    {
        const int M = 3, K = 32, N = 4;
        const float Beta = 2f;
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, M, K);
        float[] w = RandomFloats(73, K * N, -1, 1);
        float[] c = RandomFloats(74, M * N, -1, 1);
        b.Output(b.Op("Gemm", [x, b.Constant(Tensor.FromFloats(w, K, N), "w"), b.Constant(Tensor.FromFloats(c, M, N), "c")],
            [Attribute.Float("beta", Beta)]), "y", DataType.Float, M, N);
        using var model = b.Build();
        float[] xs = RandomFloats(75, M * K, -2, 2);

        Run(model, new QuantizeWeightsOptions { LmHead = "4" });

        Assert.Equal(["MatMulNBits", "Add"], model.Graph.Nodes.Select(n => n.OpType));
        Assert.DoesNotContain(model.Graph.Constants, v => v.Name == "c");
        var y = Product(xs, FakeQuantKn(w, K, N, 4, 32, true), M, K, N);
        for (int i = 0; i < y.Y.Length; i++) y.Y[i] += Beta * c[i];
        Matches(y, NumericAssert.Run(model, new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(xs, M, K) })["y"], FloatTolerance, "y");
    }

    [Fact]
    public void NonConstantWeight_StaysFloat_AndIsCounted()
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 2, 32);
        var w = b.Input("w", DataType.Float, 32, 4);
        b.Output(b.Op("MatMul", x, w), "y", DataType.Float, 2, 4);
        using var model = b.Build();

        var (context, log) = Run(model, new QuantizeWeightsOptions { LmHead = "4" });

        Assert.Equal("MatMul", model.Graph.Nodes.Single().OpType);
        Assert.Equal(1, Counter(context, "non-constant-weight"));
        Assert.Contains(log, l => l.Contains("is not a constant"));
    }

    [Theory]
    [InlineData("bits", "5", "2, 3 (stored as 4-bit codes), 4 or 8")]
    [InlineData("block-size", "48", "power of two")]
    [InlineData("block-size", "512", "power of two")]
    [InlineData("lm-head", "16", "lm-head")]
    [InlineData("accuracy-level", "5", "accuracy-level")]
    [InlineData("op-types", "Conv", "insert-qdq")]
    public void BadOptions_GiveClearErrors(string option, string value, string expected)
    {
        var (model, _, _, _) = MatMulModel(2, 32, 4, seed: 4);
        using var _ = model;
        var o = new QuantizeWeightsOptions();
        switch (option)
        {
            case "bits": o.Bits = int.Parse(value); break;
            case "block-size": o.BlockSize = value; break;
            case "lm-head": o.LmHead = value; break;
            case "accuracy-level": o.AccuracyLevel = int.Parse(value); break;
            case "op-types": o.OpTypes = [value]; break;
        }
        var e = Assert.Throws<OnnxQuantException>(() => Run(model, o));
        Assert.Contains(expected, e.Message);
        Assert.Equal("MatMul", model.Graph.Nodes.Single().OpType);
    }

    [Fact]
    public void LmHead_KeepsItsOwnPrecision_AndTheOtherMatMulsTakeBits()
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 2, 32);
        var h = b.Op("MatMul", [x, b.Constant(Tensor.FromFloats(RandomFloats(80, 32 * 32, -1, 1), 32, 32), "w1")], name: "body");
        b.Output(b.Op("MatMul", [h, b.Constant(Tensor.FromFloats(RandomFloats(81, 32 * 10, -1, 1), 32, 10), "head")], name: "head"),
            "logits", DataType.Float, 2, 10);
        using var model = b.Build();

        var (context, _) = Run(model, new QuantizeWeightsOptions());

        var bits = model.Graph.Nodes.ToDictionary(n => n.Name!, n => n.GetInt("bits", 0));
        Assert.Equal(4, bits.Single(e => e.Key.StartsWith("body")).Value);
        Assert.Equal(8, bits.Single(e => e.Key.StartsWith("head")).Value);
        Assert.Equal(1, Counter(context, "lm-head"));
        Assert.Equal("logits", model.Graph.Outputs[0].Name);
    }

    [Theory]
    [InlineData(8, 0, true)]
    [InlineData(2, 0, true)]
    [InlineData(8, 4, false)]
    [InlineData(4, 0, false)]
    public void WarnsOnce_WhenItWritesAKernelOrtRunsSlowlyOnCpu(int bitWidth, int level, bool warns)
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 2, 32);
        var h = b.Op("MatMul", [x, b.Constant(Tensor.FromFloats(RandomFloats(82, 32 * 32, -1, 1), 32, 32), "w1")], name: "body");
        b.Output(b.Op("MatMul", [h, b.Constant(Tensor.FromFloats(RandomFloats(83, 32 * 32, -1, 1), 32, 32), "w2")], name: "body2"),
            "y", DataType.Float, 2, 32);
        using var model = b.Build();

        var (context, log) = Run(model, new QuantizeWeightsOptions { Bits = bitWidth, AccuracyLevel = level, LmHead = bitWidth.ToString() });

        Assert.Equal(warns ? 2 : 0, Counter(context, $"slow-on-cpu-{bitWidth}bit-level{level}"));
        Assert.Equal(warns ? 1 : 0, log.Count(l => l.Contains("no fast kernel")));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public void AccuracyLevel_IsTheLevelOrtRuns_InItsOptimizedGraph(int level)
    {
        var (model, _, _, _) = MatMulModel(4, 64, 32, seed: 90);
        using var _ = model;
        Run(model, new QuantizeWeightsOptions { AccuracyLevel = level, LmHead = "4" });

        using var optimized = Optimized(model);

        var nbits = optimized.Graph.Nodes.Single(n => n.OpType == "MatMulNBits");
        Assert.Equal(level, nbits.GetInt("accuracy_level", 0));
    }

    [Fact]
    public void DqFormat_IsTurnedIntoMatMulNBitsAtLevel4_ByOrt_UnlessTheSessionOptionSaysOtherwise()
    {
        // Why the presets write MatMulNBits themselves: ORT picks the level of DQ(int4)→MatMul, not the model.
        var (model, _, _, _) = MatMulModel(4, 64, 32, seed: 91, opset: 21);
        using var _ = model;
        Run(model, new QuantizeWeightsOptions { Format = WeightOnlyFormat.Dq, LmHead = "4" });

        using var byDefault = Optimized(model);
        using var pinned = Optimized(model, new Dictionary<string, string> { ["session.qdq_matmulnbits_accuracy_level"] = "0" });

        Assert.Equal(4, byDefault.Graph.Nodes.Single(n => n.OpType == "MatMulNBits").GetInt("accuracy_level", 0));
        Assert.Equal(0, pinned.Graph.Nodes.Single(n => n.OpType == "MatMulNBits").GetInt("accuracy_level", 0));
    }
}
