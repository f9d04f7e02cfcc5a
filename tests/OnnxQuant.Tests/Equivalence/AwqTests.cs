using OnnxQuant.DemoModels;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Equivalence.Awq;
using OnnxQuant.Passes.Quantization.WeightOnly;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Calibration;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Tests.Fusion;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Equivalence;

/// <summary>
/// awq: with <c>clip: false</c> it is an exact rewrite of the float model (ONNX Runtime, optimizations off, max|a−b| /
/// max|a| ≤ 1e-4); with clipping (the default) the float model changes on purpose, and what is checked is that the
/// quantized model is closer to the float one than round-to-nearest on the same grid. Must-not-fire cases assert the
/// recorded reason.
/// </summary>
public class AwqTests
{
    private const double Tolerance = 1e-4;
    private static readonly LlamaConfig SmallLlama = new(64, 2, 4, 2, 128, 128);

    private static void Cleanup(Model model) =>
        new PassManager(RecipeLoader.LoadFileOrPreset("cleanup").Steps).Run(model, new PassContext());

    private static Model Copy(Model model) => OnnxReader.Read(OnnxWriter.ToBytes(model));

    private static CalibrationSettings Samples(Model model, Dictionary<string, long[]> shapes, int count = 4) => new()
    {
        Samples = new CalibrationSamples(Enumerable.Range(1, count).Select(seed => (IReadOnlyDictionary<string, Tensor>)SampleInputs.ForModel(model, seed, shapes))),
    };

    private static IEnumerable<IReadOnlyDictionary<string, Tensor>> Tokens(int seed, int count, int vocab, int length = 16)
    {
        var random = new Random(seed);
        for (int i = 0; i < count; i++)
            yield return new Dictionary<string, Tensor>
            {
                ["input_ids"] = Tensor.FromInt64s(Enumerable.Range(0, length).Select(_ => (long)random.Next(vocab)).ToArray(), 1, length),
            };
    }

    private static PassContext ScaleAndCompare(Model model, CalibrationSettings calibration, IReadOnlyDictionary<string, Tensor> feeds)
    {
        using var before = Copy(model);
        var context = new PassContext { CurrentPass = "awq" };
        context.SetAnalysis(calibration);
        var result = VerifiedPass.Run(new AwqPass(), model, new AwqOptions { Clip = false }, context);
        Assert.True(result.Modified);
        NumericAssert.SameOutputs(before, model, feeds, Tolerance);
        return context;
    }

    private static long Counter(PassContext context, string name) => context.Counters.GetValueOrDefault($"awq.{name}");

    // ---- exact (scales only) ----

    [Fact]
    public void Stories260k_ScalesOnly_IsExact_FoldingIntoRmsNormsAndThroughSwiGlu()
    {
        using var model = OnnxReader.Read(SharedPaths.Model("stories260k.onnx"));
        Cleanup(model);
        var calibration = new CalibrationSettings { Samples = new CalibrationSamples(Tokens(1, 4, 512)) };

        var context = ScaleAndCompare(model, calibration, SharedModelInputs.For("stories260k.onnx", model));

        Assert.True(Counter(context, "layers") > 0);
        Assert.True(Counter(context, "rms-norm") > 0);
        Assert.True(Counter(context, "through-mul") > 0);
    }

    [Fact]
    public void GeneratedLlama_ScalesOnly_IsExact()
    {
        using var model = LlamaGenerator.Generate(SmallLlama, seed: 3);
        var calibration = new CalibrationSettings { Samples = new CalibrationSamples(Tokens(1, 4, SmallLlama.Vocab)) };

        var context = ScaleAndCompare(model, calibration, Tokens(9, 1, SmallLlama.Vocab).Single());

        // Per block: q/k/v and gate/up read an RMS norm; down reads silu(gate)·up (folded into up); o reads the attention output (a Mul).
        Assert.True(Counter(context, "layers") > 0);
        Assert.True(Counter(context, "rms-norm") + Counter(context, "through-mul") + Counter(context, "mul") + Counter(context, "alpha-zero")
            == 4 * SmallLlama.Layers, $"counters: {string.Join(", ", context.Counters)}");
    }

    [Fact]
    public void GeneratedVit_ScalesOnly_IsExact()
    {
        using var model = VitGenerator.Generate(VitConfig.Tiny, seed: 5);
        Cleanup(model);
        var shapes = new Dictionary<string, long[]> { ["pixel_values"] = [2, 3, 32, 32] };

        var context = ScaleAndCompare(model, Samples(model, shapes), SampleInputs.ForModel(model, 9, shapes));

        Assert.True(Counter(context, "layers") > 0);
        Assert.True(Counter(context, "layer-norm") > 0);
    }

    // ---- the search ----

    /// <summary>The output error computed from XᵀX equals Σ over tokens of ‖x·B − x·B̂‖², computed here from the tokens;
    /// with fewer tokens than half the channels, also through H's low-rank factor (rank = the tokens).</summary>
    [Theory]
    [InlineData(50)]
    [InlineData(20)]
    public void OutputErrorFromXtX_EqualsTheErrorOverTheTokens(int tokens)
    {
        var g = new FusionTestGraph(21);
        var x = g.Input("x", 4, 64);
        var matmul = g.Node("MatMul", [x, g.Random(-1, 1, 64, 8)]);
        OnnxQuant.Passes.LinearLayers.LinearLayer.TryRead(matmul, out var linear);
        var grid = new OnnxQuant.Passes.Quantization.Rounding.WeightGrid(4, OnnxQuant.Passes.Quantization.Rounding.WeightScaleRule.Asymmetric, 32, false, DataType.Float);
        var layer = new AwqLayer(linear!, linear!.ReadRows(), 1f, grid);
        var random = new Random(4);
        int k = 64, n = 8;
        var xs = Enumerable.Range(0, tokens * k).Select(i => (random.NextDouble() - 0.5) * (1 + i % k)).ToArray();
        var h = new double[k * k];
        for (int t = 0; t < tokens; t++)
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++) h[i * k + j] += xs[t * k + i] * xs[t * k + j];
        var meanAbs = Enumerable.Range(0, k).Select(j => Enumerable.Range(0, tokens).Average(t => Math.Abs(xs[t * k + j]))).ToArray();
        var s = AwqSearch.Scales(meanAbs, 0.5);

        double fromH = AwqSearch.OutputError(h, [layer], s);

        var scaled = layer.ScaledForQuantizer(s);
        var q = new OnnxQuant.Passes.Quantization.Rounding.RoundToNearest().Round(scaled, n, k, grid, null);
        double direct = 0;
        for (int t = 0; t < tokens; t++)
            for (int c = 0; c < n; c++)
            {
                double y = 0, yq = 0;
                for (int j = 0; j < k; j++)
                {
                    y += xs[t * k + j] * layer.Rows[c * k + j];
                    yq += xs[t * k + j] / s[j] * q.Dequantize(c, j);
                }
                direct += (y - yq) * (y - yq);
            }
        Assert.Equal(direct, fromH, direct * 1e-9);
        Assert.True(fromH > 0);
        var factor = LowRankSecondMoment.TryFactor(h, k);
        Assert.Equal(tokens <= k / 2, factor is not null);
        if (factor is null) return;
        Assert.Equal(tokens, factor.Rank);
        Assert.Equal(direct, AwqSearch.OutputError(h, [layer], s, factor), direct * 1e-9);
    }

    [Fact]
    public void Scales_AreOneAtAlphaZero_AndCentredOnOne()
    {
        Assert.All(AwqSearch.Scales([0, 3, 7], 0), v => Assert.Equal(1f, v));
        var s = AwqSearch.Scales([0.5, 2, 8], 0.5);
        Assert.Equal(1.0, Math.Sqrt((double)s.Max() * s.Min()), 1e-6);
        Assert.Equal(2.0, s[1] / s[0], 1e-5); // √2 / √0.5
        Assert.Equal([1, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55], AwqSearch.ClipRatios(0.5), (a, b) => Math.Abs(a - b) < 1e-12);
    }

    /// <summary>On a generated llama, w4a16-awq's held-out logits are closer to the float model's than round to nearest
    /// on the same grid (the preset with the awq step removed).</summary>
    [Fact]
    public void W4A16Awq_HasLowerHeldOutLogitErrorThanRoundToNearestOnTheSameGrid()
    {
        using var folder = new ScratchFolder();
        string preset = File.ReadAllText(Path.Combine(SharedPaths.RepoRoot, "models", "recipes", "w4a16-awq.yaml"));
        Assert.Contains("  - awq\n", preset);
        string rtnRecipe = preset.Replace("  - awq\n", "", StringComparison.Ordinal);
        using var toAwq = LlamaGenerator.Generate(SmallLlama, seed: 5);
        using var toRtn = LlamaGenerator.Generate(SmallLlama, seed: 5);
        var awq = Quantizer.Quantize(toAwq, folder.File("awq.onnx"), new QuantizeOptions
        {
            Recipe = RecipeSource.Preset("w4a16-awq"),
            Calibration = CalibrationData.FromSamples(Tokens(1, 16, SmallLlama.Vocab)),
        });
        Quantizer.Quantize(toRtn, folder.File("rtn.onnx"), new QuantizeOptions
        {
            Recipe = RecipeSource.Yaml(rtnRecipe),
            Calibration = CalibrationData.FromSamples(Tokens(1, 16, SmallLlama.Vocab)),
        });
        using var reference = LlamaGenerator.Generate(SmallLlama, seed: 5);
        using var awqModel = OnnxReader.Read(folder.File("awq.onnx"));
        using var rtnModel = OnnxReader.Read(folder.File("rtn.onnx"));
        var heldOut = Tokens(77, 8, SmallLlama.Vocab).ToList();

        double awqError = LogitError(reference, awqModel, heldOut), rtnError = LogitError(reference, rtnModel, heldOut);

        Assert.True(awq.Counters.GetValueOrDefault("awq.clipped-blocks") > 0);
        Assert.True(awqError < rtnError, $"awq {awqError} vs round to nearest {rtnError}");
    }

    private static double LogitError(Model reference, Model quantized, IEnumerable<IReadOnlyDictionary<string, Tensor>> heldOut)
    {
        var options = new RunnerOptions { Optimization = OptimizationLevel.None };
        double total = 0;
        foreach (var feeds in heldOut)
        {
            float[] expected = ModelRunner.RunOnce(reference, feeds, options)["logits"].ToFloatArray();
            float[] actual = ModelRunner.RunOnce(quantized, feeds, options)["logits"].ToFloatArray();
            for (int i = 0; i < expected.Length; i++) total += Math.Pow(expected[i] - actual[i], 2);
        }
        return total;
    }

    /// <summary>Clipping is folded into the weights so that quantize-weights takes the clipped range: every weight awq
    /// changed beyond its scaling sits at the clipped block's new extreme, and the block's stored int4 scale is that extreme's.</summary>
    [Fact]
    public void ClippedBlocks_AreWhatQuantizeWeightsQuantizes()
    {
        var g = new FusionTestGraph(21);
        var x = g.Input("x", 16, 64);
        // Heavy-tailed weights: a few large values per block make clipping worth it.
        var random = new Random(2);
        var w = Enumerable.Range(0, 64 * 8).Select(_ => (float)(Math.Tan((random.NextDouble() - 0.5) * 3.0))).ToArray();
        var matmul = g.Node("MatMul", [g.Op("Relu", x), g.Const(w, 64, 8)]);
        g.Output(g.Op("Sigmoid", matmul.Output));
        var context = new PassContext { CurrentPass = "awq" };
        context.SetAnalysis(Samples(g.Model, [], 8));

        Assert.True(VerifiedPass.Run(new AwqPass(), g.Model, new AwqOptions { Grid = 1, Symmetric = false }, context).Modified);

        Assert.True(Counter(context, "clipped-blocks") > 0);
        Assert.Equal(0, Counter(context, "layers")); // grid 1: α = 0 only, so the weights are only clipped
        var clipped = matmul.Inputs[1]!.Const!.ToFloatArray();
        int changedBlocks = 0;
        for (int n = 0; n < 8; n++)
            for (int b = 0; b < 2; b++)
            {
                var rows = Enumerable.Range(b * 32, 32).Select(k => k * 8 + n).ToList();
                float limit = rows.Max(i => Math.Abs(clipped[i]));
                foreach (int i in rows)
                    Assert.True(clipped[i] == w[i] || clipped[i] == Math.Clamp(w[i], -limit, limit), $"weight {i}: {w[i]} became {clipped[i]}");
                if (rows.Any(i => clipped[i] != w[i])) changedBlocks++;
            }
        Assert.Equal(Counter(context, "clipped-blocks"), changedBlocks);

        // quantize-weights (asymmetric, dq) takes each block's range from the clipped values.
        var q = new PassContext();
        VerifiedPass.Run(new QuantizeWeightsPass(), g.Model, new QuantizeWeightsOptions { Symmetric = false, Format = WeightOnlyFormat.Dq, LmHead = "4" }, q);
        var dq = g.Model.Graph.Nodes.Single(n => n.OpType == "DequantizeLinear");
        var scales = dq.Inputs[1]!.Const!.ToFloatArray(); // [2 blocks, 8] for the [64, 8] weight
        for (int n = 0; n < 8; n++)
            for (int b = 0; b < 2; b++)
            {
                var block = Enumerable.Range(b * 32, 32).Select(k => clipped[k * 8 + n]).ToList();
                float expected = (float)((Math.Max(block.Max(), 0) - Math.Min(block.Min(), 0)) / 15.0);
                Assert.Equal(expected, scales[b * 8 + n], expected * 1e-6);
            }
    }

    // ---- what it searches for ----

    /// <summary>The LM head stays float under w4a16's defaults, so awq leaves it; when the following quantize-weights
    /// quantizes the head (lm-head: 8), awq reads that from the recipe and scales it.</summary>
    [Fact]
    public void TheFormatComesFromTheFollowingQuantizeWeightsStep()
    {
        Model Head()
        {
            var g = new FusionTestGraph(21);
            g.Output(g.Op("MatMul", g.Op("Relu", g.Op("Mul", g.Input("x", 8, 64), g.Random(0.1f, 10, 64))), g.Random(-1, 1, 64, 16)));
            return g.Model;
        }
        using var alone = Head();
        var context = new PassContext();
        context.SetAnalysis(Samples(alone, []));
        new PassManager([new PassStep(new AwqPass(), new AwqOptions { Clip = false })]).Run(alone, context);
        Assert.Contains("no layer reading the activation is quantized by quantize-weights (an LM head kept float, an excluded node or op type)",
            context.Misses["awq.awq"].Keys);

        using var withHead = Head();
        var before = OnnxWriter.ToBytes(withHead);
        var quantizing = new PassContext();
        quantizing.SetAnalysis(Samples(withHead, []));
        var steps = new PipelineStep[]
        {
            new PassStep(new AwqPass(), new AwqOptions { Clip = false }),
            new PassStep(new QuantizeWeightsPass(), new QuantizeWeightsOptions { LmHead = "8", Format = WeightOnlyFormat.Dq }),
        };
        new PassManager(steps).Run(withHead, quantizing);
        Assert.False(quantizing.Misses.ContainsKey("awq.awq"));
        Assert.Equal(1, quantizing.Counters.GetValueOrDefault("awq.layers") + quantizing.Counters.GetValueOrDefault("awq.alpha-zero"));
        Assert.NotEqual(before, OnnxWriter.ToBytes(withHead));
    }

    // ---- must not fire ----

    private static void AssertDoesNotFire(FusionTestGraph g, string reason, AwqOptions? options = null)
    {
        var context = new PassContext { CurrentPass = "awq" };
        context.SetAnalysis(Samples(g.Model, []));
        var bytes = OnnxWriter.ToBytes(g.Model);
        var result = VerifiedPass.Run(new AwqPass(), g.Model, options ?? new AwqOptions(), context);
        Assert.False(result.Modified);
        Assert.Equal(bytes, OnnxWriter.ToBytes(g.Model));
        Assert.Contains(reason, (context.Misses.GetValueOrDefault("awq.awq") ?? new Dictionary<string, long>()).Keys);
    }

    [Fact]
    public void AnActivationWithAnotherReader_IsLeftAlone_SayingSo()
    {
        var g = new FusionTestGraph(21);
        var h = g.Op("Relu", g.Input("x", 4, 64));
        g.Output(g.Op("Relu", g.Op("MatMul", h, g.Random(-1, 1, 64, 6))));
        g.Output(g.Op("Sigmoid", h));

        AssertDoesNotFire(g, "the activation has other readers (not MatMul/Gemm with a constant weight reading it as x), which would see the scaled tensor");
    }

    [Fact]
    public void AnActivationThatIsAGraphOutput_IsLeftAlone_SayingSo()
    {
        var g = new FusionTestGraph(21);
        var h = g.Op("Relu", g.Input("x", 4, 64));
        g.Output(g.Op("Relu", g.Op("MatMul", h, g.Random(-1, 1, 64, 6))));
        g.Output(h);

        AssertDoesNotFire(g, "the activation is a graph output, which would see the scaled tensor");
    }

    [Fact]
    public void AWeightSharedWithALayerReadingAnotherActivation_IsLeftAlone_SayingSo()
    {
        var g = new FusionTestGraph(21);
        var w = g.Random(-1, 1, 64, 64);
        g.Output(g.Op("Relu", g.Op("MatMul", g.Op("MatMul", g.Op("Relu", g.Input("x", 4, 64)), w), w)));

        AssertDoesNotFire(g, "a weight is shared with a node outside the group (shared weights are never changed in place)");
    }

    [Fact]
    public void TheLmHeadKeptFloat_IsLeftAlone_SayingSo()
    {
        var g = new FusionTestGraph(21);
        g.Output(g.Op("MatMul", g.Op("Relu", g.Input("x", 4, 64)), g.Random(-1, 1, 64, 6)));

        AssertDoesNotFire(g, "no layer reading the activation is quantized by quantize-weights (an LM head kept float, an excluded node or op type)");
    }

    [Fact]
    public void WithoutExplicitMul_AGeluInputIsLeftAlone_SayingSo()
    {
        var g = new FusionTestGraph(21);
        var x = g.Op("Mul", g.Input("x", 8, 64), g.Const(Enumerable.Range(0, 64).Select(i => i % 7 == 0 ? 30f : 1f).ToArray(), 64));
        g.Output(g.Op("Relu", g.Op("MatMul", g.Op("Gelu", x), g.Random(-1, 1, 64, 16))));

        AssertDoesNotFire(g, "nothing before the activation absorbs 1/s and explicit-mul is off", new AwqOptions { ExplicitMul = false, Clip = false, Grid = 20 });
    }

    [Fact]
    public void BadOptions_AreClearErrors()
    {
        var g = new FusionTestGraph(21);
        g.Output(g.Op("MatMul", g.Op("Relu", g.Input("x", 4, 64)), g.Random(-1, 1, 64, 6)));
        var e = Assert.Throws<OnnxQuantException>(() => new AwqPass().Run(g.Model, new AwqOptions { MaxShrink = 1 }, new PassContext()));
        Assert.Equal("awq: max-shrink 1 is outside [0, 1); use e.g. 'max-shrink: 0.5'.", e.Message);
        e = Assert.Throws<OnnxQuantException>(() => new AwqPass().Run(g.Model, new AwqOptions { Bits = 5 }, new PassContext()));
        Assert.StartsWith("awq: bits is 5", e.Message);
    }

    // ---- in recipes ----

    [Fact]
    public void AloneInARecipe_ItCollectsItsOwnStatistics_AndWritesTheScaledFloatModel()
    {
        using var folder = new ScratchFolder("awq");
        string output = folder.File("scaled.onnx");
        var result = Quantizer.Quantize(SharedPaths.Model("stories260k.onnx"), output, new QuantizeOptions
        {
            Recipe = RecipeSource.Yaml("name: awq-alone\npasses: [awq: {clip: false}]\n"),
            Calibration = CalibrationData.FromSamples(Tokens(1, 4, 512)),
        });

        Assert.True(result.Counters.GetValueOrDefault("awq.layers") > 0);
        using var before = OnnxReader.Read(SharedPaths.Model("stories260k.onnx"));
        using var after = OnnxReader.Read(output);
        Assert.DoesNotContain(after.Graph.Nodes, n => n.OpType is "MatMulNBits" or "DequantizeLinear");
        NumericAssert.SameOutputs(before, after, SharedModelInputs.For("stories260k.onnx", before), Tolerance);
    }

    [Fact]
    public void ThePresets_ScaleBeforeCalibratingAndQuantizing()
    {
        foreach (string name in new[] { "w4a16-awq", "w4a8-awq", "w4a16-awq-rotated" })
        {
            var names = RecipeLoader.LoadFileOrPreset(name).Passes.Select(p => p.Name).ToList();
            Assert.True(names.IndexOf("fuse-rms-norm") < names.IndexOf("awq"));
            Assert.True(names.IndexOf("awq") < names.IndexOf("quantize-weights"));
            if (names.Contains("calibrate")) Assert.True(names.IndexOf("awq") < names.IndexOf("calibrate"));
        }
    }

    /// <summary>
    /// AWQ after rotation: the preset rotates first (so AWQ searches on the rotated weights it will quantize) and keeps
    /// the online Hadamard MatMuls float; on stories260k it scales some activations and the result runs.
    /// </summary>
    [Fact]
    public void TheRotatedPreset_RotatesThenScales_AndKeepsTheHadamardFloat()
    {
        var names = RecipeLoader.LoadFileOrPreset("w4a16-awq-rotated").Passes.Select(p => p.Name).ToList();
        Assert.True(names.IndexOf("rotate") < names.IndexOf("awq"));

        using var folder = new ScratchFolder("awq-rotated");
        string output = Path.Combine(folder.Path, "q.onnx");
        var result = Quantizer.Quantize(SharedPaths.Model("stories260k.onnx"), output, new QuantizeOptions
        {
            Recipe = RecipeSource.Preset("w4a16-awq-rotated"),
            Calibration = new CalibrationData { Path = Path.Combine(SharedPaths.Data, "lm", "stories_tokens_64x64.npy"), Count = 4 },
        });
        Assert.Equal(5, result.Counters.GetValueOrDefault("rotate.online"));
        Assert.True(result.Counters.GetValueOrDefault("awq.layers") > 0);
        using var after = OnnxReader.Read(output);
        Assert.All(after.Graph.Nodes.Where(n => n.Name?.Contains("_hadamard", StringComparison.Ordinal) == true),
            n => Assert.Equal("MatMul", n.OpType));
        Assert.Contains(after.Graph.Nodes, n => n.OpType == "MatMulNBits");
    }
}
