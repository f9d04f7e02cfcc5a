using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes;
using OnnxQuant;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Passes.Quantization.Repq;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Passes.Rewriting;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization;

/// <summary>
/// repq-vit: the post-LayerNorm reparameterization is exact (float outputs within 1e-5 in ORT, optimizations off) and
/// makes the per-tensor quantizer give the channel-wise codes; the log√2 export reproduces its codes on a dense grid.
/// </summary>
public class RepqVitTests
{
    private const int T = 24, K = 32, N = 20;
    private static readonly Dictionary<string, long[]> NoShapes = [];

    private static Model Copy(Model model) => OnnxReader.Read(OnnxWriter.ToBytes(model));

    private static CalibrationSettings Samples(Model model, int count = 6) => new()
    {
        Samples = new CalibrationSamples(Enumerable.Range(1, count).Select(seed => (IReadOnlyDictionary<string, Tensor>)SampleInputs.ForModel(model, seed, NoShapes))),
    };

    /// <summary>
    /// x → LayerNormalization (γ 20–40× larger on three channels, as real ViTs have) → X, read by a MatMul (q), a MatMul
    /// followed by a bias Add (k), a Gemm-free MatMul (v) and a Shape: separate q/k/v.
    /// </summary>
    private static Model LayerNormGraph()
    {
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("x", DataType.Float, 1, T, K);
        var gamma = RandomFloats(11, K, 0.5f, 1.5f);
        gamma[3] *= 20;
        gamma[17] *= 40;
        gamma[29] *= -25;
        var ln = b.Op("LayerNormalization", [x, b.Constant(Tensor.FromFloats(gamma, K), "gamma"), b.Constant(Tensor.FromFloats(RandomFloats(12, K, -1, 1), K), "beta")],
            [Attribute.Int("axis", -1)], name: "ln");
        var q = b.Op("MatMul", [ln, b.Constant(Tensor.FromFloats(RandomFloats(13, K * N, -0.5f, 0.5f), K, N), "wq")], name: "q");
        var k = b.Op("Add", [b.Op("MatMul", [ln, b.Constant(Tensor.FromFloats(RandomFloats(14, K * N, -0.5f, 0.5f), K, N), "wk")], name: "k"),
            b.Constant(Tensor.FromFloats(RandomFloats(15, N, -1, 1), N), "bk")]);
        var v = b.Op("MatMul", [ln, b.Constant(Tensor.FromFloats(RandomFloats(16, K * N, -0.5f, 0.5f), K, N), "wv")], name: "v");
        b.Output(q, "yq", DataType.Float, 1, T, N);
        b.Output(k, "yk", DataType.Float, 1, T, N);
        b.Output(v, "yv", DataType.Float, 1, T, N);
        b.Output(b.Op("Shape", ln), "shape", DataType.Int64, 3);
        return b.Build();
    }

    private static float[] RunTensor(Model model, Dictionary<string, Tensor> feeds, string name)
    {
        using var runner = ModelRunner.FromModel(model, new RunnerOptions(), [name]);
        return runner.Run(feeds, [name])[name].ToFloatArray();
    }

    [Theory]
    [InlineData(4)]
    [InlineData(6)]
    [InlineData(8)]
    public void Reparameterization_IsExact_AndLayerWiseCodesEqualChannelWiseCodes(int bits)
    {
        using var model = LayerNormGraph();
        using var before = Copy(model);
        var feeds = new Dictionary<string, Tensor> { ["x"] = SampleInputs.ForModel(model, 99, NoShapes)["x"] };
        var context = new PassContext { CurrentPass = "repq-vit" };
        context.SetAnalysis(Samples(model));

        var result = VerifiedPass.Run(new RepqVitPass(), model, new RepqVitOptions { Bits = bits, SoftmaxBits = 0 }, context);

        Assert.True(result.Modified);
        Assert.Equal(1, context.Counters["repq-vit.layer-norms"]);
        // Exact in float: every output within 1e-5 (relative to its largest value), ORT with optimizations off.
        NumericAssert.SameOutputs(before, model, feeds, 1e-5);

        var ln = model.Graph.Nodes.Single(n => n.OpType == "LayerNormalization");
        var pin = context.GetAnalysis<PinnedActivations>()!.Pins[ln.Output];
        Assert.Equal(bits, pin.Bits);
        // The channel quantizers the pass used, read back from the rewritten γ and β: r₁ = γ/γ′, s_c = r₁·s̃,
        // r₂ = (β′·r₁ − β)/s_c (an integer).
        float[] g = before.Graph.Constants.Single(c => c.Name == "gamma").Const!.ToFloatArray(), b0 = before.Graph.Constants.Single(c => c.Name == "beta").Const!.ToFloatArray();
        float[] g2 = ln.Input(1)!.Const!.ToFloatArray(), b2 = ln.Input(2)!.Const!.ToFloatArray();
        var s = new double[K];
        var z = new int[K];
        for (int c = 0; c < K; c++)
        {
            double r1 = g[c] / (double)g2[c];
            s[c] = r1 * pin.Scale;
            double r2 = (b2[c] * r1 - b0[c]) / s[c];
            Assert.True(Math.Abs(r2 - Math.Round(r2)) < 1e-3, $"channel {c}: r2 = {r2} is not an integer");
            z[c] = pin.ZeroPoint + (int)Math.Round(r2);
        }
        Assert.True(s.Max() / s.Min() > 5, "the outlier channels must have much larger scales than the rest");

        int qmax = (1 << bits) - 1, differ = 0;
        var x = RunTensor(before, feeds, ln.Output.Name!);
        var x2 = RunTensor(model, feeds, ln.Output.Name!);
        for (int i = 0; i < x.Length; i++)
        {
            int c = i % K;
            double exact = x[i] / s[c] + z[c];
            double channelWise = Math.Clamp(Math.Round(x[i] / s[c], MidpointRounding.ToEven) + z[c], 0, qmax);
            double layerWise = Math.Clamp(Math.Round((double)(x2[i] / pin.Scale), MidpointRounding.ToEven) + pin.ZeroPoint, 0, qmax);
            if (channelWise == layerWise) continue;
            // Only a value within float32 rounding of a code boundary may land on the other side.
            Assert.True(Math.Abs(exact - Math.Floor(exact) - 0.5) < 1e-4, $"element {i}: channel-wise code {channelWise}, layer-wise {layerWise} ({exact})");
            differ++;
        }
        Assert.True(differ <= x.Length / 1000, $"{differ} of {x.Length} codes differ");
    }

    [Fact]
    public void InsertQdq_UsesThePinnedScaleAndZeroPoint_ForTheReparameterizedTensor()
    {
        using var model = LayerNormGraph();
        var feeds = new Dictionary<string, Tensor> { ["x"] = SampleInputs.ForModel(model, 99, NoShapes)["x"] };
        var context = new PassContext();
        context.SetAnalysis(Samples(model));
        VerifiedPass.Run(new RepqVitPass(), model, new RepqVitOptions { Bits = 4, SoftmaxBits = 0 }, context);
        context.SetAnalysis<IActivationRanges>(MeasureRanges(model, feeds));

        VerifiedPass.Run(new InsertQdqPass(), model, new InsertQdqOptions { ActivationBits = 4 }, context);

        var ln = model.Graph.Nodes.Single(n => n.OpType == "LayerNormalization");
        var pin = context.GetAnalysis<PinnedActivations>()!.Pins[ln.Output];
        var clip = ln.Output.Uses.Single(u => u.Node.OpType == "Clip").Node;
        var q = clip.Output.Uses.Single().Node;
        Assert.Equal(pin.Scale, q.Inputs[1]!.Const!.ToFloatArray()[0]);
        Assert.Equal(pin.ZeroPoint, (int)q.Inputs[2]!.Const!.ToDoubleArray()[0]);
        Assert.Equal(3, model.Graph.Nodes.Count(n => n.OpType == "MatMul" && n.Inputs[0]!.Producer?.OpType == "DequantizeLinear"));
        Assert.Equal(1, context.Counters["pinned"]);
    }

    [Fact]
    public void Pin_ForOtherBitsThanInsertQdq_IsRefusedWithAMessage()
    {
        using var model = LayerNormGraph();
        var feeds = new Dictionary<string, Tensor> { ["x"] = SampleInputs.ForModel(model, 99, NoShapes)["x"] };
        var context = new PassContext();
        context.SetAnalysis(Samples(model));
        VerifiedPass.Run(new RepqVitPass(), model, new RepqVitOptions { Bits = 4, SoftmaxBits = 0 }, context);
        context.SetAnalysis<IActivationRanges>(MeasureRanges(model, feeds));
        var e = Assert.Throws<OnnxQuantException>(() => new InsertQdqPass().Run(model, new InsertQdqOptions(), context));
        Assert.Contains("reparameterized for 4-bit codes", e.Message);
    }

    [Fact]
    public void LayerNormWithAnotherReader_DoesNotFire_AndSaysWhy()
    {
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("x", DataType.Float, 1, T, K);
        var ln = b.Op("LayerNormalization", [x, b.Constant(Tensor.FromFloats(RandomFloats(1, K, 0.5f, 1.5f), K)), b.Constant(Tensor.FromFloats(RandomFloats(2, K, -1, 1), K))]);
        b.Output(b.Op("MatMul", [ln, b.Constant(Tensor.FromFloats(RandomFloats(3, K * N, -1, 1), K, N))]), "y", DataType.Float, 1, T, N);
        b.Output(b.Op("Relu", ln), "r", DataType.Float, 1, T, K);
        using var model = b.Build();
        var context = new PassContext { CurrentPass = "repq-vit" };
        context.SetAnalysis(Samples(model));

        var result = new RepqVitPass().Run(model, new RepqVitOptions { Bits = 4 }, context);

        Assert.False(result.Modified);
        Assert.Contains(context.Misses["repq-vit.repq"].Keys, k => k.Contains("other readers"));
    }

    /// <summary>x → Relu → A → Identity → y, with A replaced by the exported log√2 quantizer.</summary>
    private static (Model Model, string Output) Log2Graph(Log2Quantizer quantizer, int count)
    {
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("x", DataType.Float, count);
        var a = b.Op("Relu", x);
        b.Output(b.Op("Identity", a), "y", DataType.Float, count);
        var model = b.Build();
        var relu = model.Graph.Nodes.Single(n => n.OpType == "Relu");
        Log2Export.Insert(new Rewriter(model.Graph), relu.Output, quantizer);
        return (model, "y");
    }

    [Theory]
    [InlineData(4, 0.73f)]
    [InlineData(3, 1f)]
    [InlineData(8, 0.0625f)]
    public void Log2Export_CodesEqualTheReference_OnADenseGrid(int bits, float scale)
    {
        var quantizer = new Log2Quantizer(scale, bits);
        // Dense grid: 0, tiny values, a linear sweep of [0, 1.5·s] and a geometric sweep over 2^−40 … 2·s, plus every
        // threshold and its float neighbours (where a rounding difference would show).
        var grid = new List<float> { 0f, float.Epsilon, 1e-30f };
        for (int i = 0; i <= 200_000; i++) grid.Add(1.5f * scale * i / 200_000);
        for (int i = 0; i <= 100_000; i++) grid.Add((float)(2 * scale * Math.Pow(2, -40.0 * i / 100_000)));
        foreach (float t in quantizer.Thresholds) grid.AddRange([t, MathF.BitDecrement(t), MathF.BitIncrement(t)]);
        var (model, output) = Log2Graph(quantizer, grid.Count);
        using var _ = model;
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(grid.ToArray(), grid.Count) };

        var values = NumericAssert.Run(model, feeds)[output].ToFloatArray();

        int near = 0, levels = 1 << bits;
        for (int i = 0; i < grid.Count; i++)
        {
            int code = quantizer.Code(grid[i]);
            // Values are distinct per code, so equal values mean equal codes.
            Assert.True(quantizer.Values[code] == values[i], $"A = {grid[i]:R}: ORT gives {values[i]:R}, the reference code {code} is {quantizer.Values[code]:R}");
            // The threshold form is round(−2·log₂(A/s)) except within a float rounding of a threshold.
            int ideal = Log2Quantizer.IdealCode(grid[i], scale, bits);
            if (ideal != code)
            {
                Assert.Contains(quantizer.Thresholds, t => Math.Abs(t - grid[i]) <= 2 * Math.Abs(MathF.BitIncrement(t) - t));
                near++;
            }
        }
        Assert.True(near <= 3 * levels, $"{near} grid values differ from round(-2 log2(A/s))");
        Assert.Contains(0f, values);
        Assert.Contains(scale, values);
    }

    [Fact]
    public void VitMnist_ReparameterizationAlone_IsExact_OnEveryLayerNormAndSoftmaxIsLeftForLog2()
    {
        using var model = OnnxReader.Read(SharedPaths.Model("vit_mnist.onnx"));
        new PassManager(RecipeLoader.LoadFileOrPreset("cleanup").Steps).Run(model, new PassContext());
        using var before = Copy(model);
        var context = new PassContext { CurrentPass = "repq-vit" };
        context.SetAnalysis(new CalibrationSettings { Data = Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy"), Source = new DataSourceOptions { Count = 16, BatchSize = 8 } });

        VerifiedPass.Run(new RepqVitPass(), model, new RepqVitOptions { Bits = 4, SoftmaxBits = 0 }, context);

        Assert.Equal(13, context.Counters["repq-vit.layer-norms"]);
        NumericAssert.SameOutputs(before, model, SharedModelInputs.For("vit_mnist.onnx", model), 1e-5);
    }

    private static double LogitsSqnr(Model reference, string quantized, IReadOnlyList<Dictionary<string, Tensor>> feeds)
    {
        using var q = OnnxReader.Read(quantized);
        var stats = new OnnxQuant.Runtime.Evaluation.ErrorStatistics();
        foreach (var f in feeds) stats.Add(NumericAssert.Run(reference, f)["logits"].ToFloatArray(), NumericAssert.Run(q, f)["logits"].ToFloatArray());
        return stats.SqnrDb;
    }

    [Fact]
    public void GeneratedVitWithOutlierChannels_W8A8Collapses_RepqRecovers_AndW4A8RepqRuns()
    {
        var shapes = new Dictionary<string, long[]> { ["pixel_values"] = [1, 3, 32, 32] };
        using var plain = OnnxQuant.DemoModels.VitGenerator.Generate(OnnxQuant.DemoModels.VitConfig.Tiny, seed: 0);
        using var outliers = OnnxQuant.DemoModels.VitGenerator.Generate(OnnxQuant.DemoModels.VitConfig.Tiny with { OutlierChannels = 3 }, seed: 0);
        var calibration = CalibrationData.FromSamples(Enumerable.Range(1, 32).Select(i => (IReadOnlyDictionary<string, Tensor>)SampleInputs.ForModel(plain, i, shapes)).ToList());
        var eval = Enumerable.Range(100, 16).Select(i => SampleInputs.ForModel(plain, i, shapes).ToDictionary()).ToList();
        string w8a8Repq = File.ReadAllText(Path.Combine(RecipePresets.DefaultDirectory, "w8a8.yaml")).Replace("name: w8a8", "name: w8a8-repq-test")
            .Replace("  - calibrate:", "  - repq-vit: {bits: 8, softmax-bits: 0}\n  - calibrate:");
        using var scratch = new ScratchFolder("repq");
        double Quantize(Model model, RecipeSource recipe, string name, out QuantizationResult result)
        {
            string path = Path.Combine(scratch.Path, name);
            using (var copy = Copy(model)) result = Quantizer.Quantize(copy, path, new QuantizeOptions { Recipe = recipe, Calibration = calibration });
            return LogitsSqnr(model, path, eval);
        }

        double plainW8a8 = Quantize(plain, RecipeSource.Preset("w8a8"), "plain.onnx", out _);
        double outlierW8a8 = Quantize(outliers, RecipeSource.Preset("w8a8"), "outliers.onnx", out _);
        double outlierRepq = Quantize(outliers, RecipeSource.Yaml(w8a8Repq), "outliers.repq.onnx", out var repq);
        double outlierW4a8 = Quantize(outliers, RecipeSource.Preset("w4a8-repq"), "outliers.w4a8.onnx", out var w4a8);

        Assert.True(outlierW8a8 < plainW8a8 - 10, $"per-tensor W8A8: {outlierW8a8:F1} dB with outlier channels vs {plainW8a8:F1} dB without");
        Assert.True(outlierRepq > outlierW8a8 + 15, $"W8A8 with repq-vit: {outlierRepq:F1} dB vs {outlierW8a8:F1} dB without");
        // Every LayerNorm (2 layers × 2 + the final one, read through the class-token Gather) and both Softmaxes.
        Assert.Equal(5, repq.Counters["repq-vit.layer-norms"]);
        Assert.Equal(5, w4a8.Counters["repq-vit.layer-norms"]);
        Assert.Equal(2, w4a8.Counters["repq-vit.log2-softmax"]);
        Assert.True(outlierW4a8 > 15, $"w4a8-repq: {outlierW4a8:F1} dB");
    }
}
