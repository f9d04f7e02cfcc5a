using OnnxQuant.DemoModels;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Equivalence;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Runtime;
using OnnxQuant.Tests.Fusion;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Equivalence;

/// <summary>
/// rotate is an exact rewrite of the float model: each case runs the model as exported before and after the pass alone
/// in ONNX Runtime (optimizations off) and compares max|a−b| / max|a| ≤ 1e-4, and checks how much it changed.
/// Must-not-fire cases assert the recorded reason and an unchanged model.
/// </summary>
public class RotateTests
{
    private const double Tolerance = 1e-4;

    private static Model Copy(Model model) => OnnxReader.Read(OnnxWriter.ToBytes(model));

    private static PassContext RotateAndCompare(Model model, IReadOnlyDictionary<string, Tensor> feeds, RotateOptions? options = null)
    {
        using var before = Copy(model);
        var context = new PassContext { CurrentPass = "rotate" };
        var result = VerifiedPass.Run(new RotatePass(), model, options ?? new RotateOptions(), context);
        Assert.True(result.Modified);
        Assert.Empty(context.Misses.GetValueOrDefault("rotate.stream") ?? new Dictionary<string, long>());
        NumericAssert.SameOutputs(before, model, feeds, Tolerance);
        return context;
    }

    private static long Counter(PassContext context, string name) => context.Counters.GetValueOrDefault($"rotate.{name}");

    [Fact]
    public void VitMnist_AsExported_IsExact_WithLayerNormsTurnedIntoRmsNorms()
    {
        using var model = OnnxReader.Read(SharedPaths.Model("vit_mnist.onnx"));
        var feeds = SharedModelInputs.For("vit_mnist.onnx", model);

        var context = RotateAndCompare(model, feeds);

        Assert.True(Counter(context, "layers") > 0);
        Assert.Equal(13, Counter(context, "norms"));            // 12 in the blocks, 1 before the head
        Assert.Equal(6, Counter(context, "heads"));             // V sliced from the fused QKV, per head of 64
        Assert.Equal(6, Counter(context, "online"));            // fc2 after Relu, 128 wide
        Assert.Equal(0, FusionTestGraph.Count(model, "LayerNormalization"));
        Assert.Equal(13, FusionTestGraph.Count(model, "SimplifiedLayerNormalization"));
        Assert.Equal(6, model.Graph.Nodes.Count(n => n.OpType == "MatMul" && n.Inputs[1]?.Const?.Dims is [128, 128]));
    }

    [Fact]
    public void Stories260k_AsExported_IsExact_ThroughGroupedKvHeads()
    {
        using var model = OnnxReader.Read(SharedPaths.Model("stories260k.onnx"));
        var feeds = SharedModelInputs.For("stories260k.onnx", model);

        var context = RotateAndCompare(model, feeds);

        Assert.Equal(11, Counter(context, "norms"));
        Assert.Equal(5, Counter(context, "heads"));
        Assert.Equal(5, Counter(context, "online"));            // down-projection input 172 = H_172
        Assert.True(Counter(context, "layers") >= 5 * 7 + 1);
    }

    [Fact]
    public void GeneratedVit_Width192_UsesH12xH16_AndIsExact()
    {
        var config = VitConfig.Tiny with { Width = 192, Heads = 12, MlpWidth = 768 };
        using var model = VitGenerator.Generate(config, seed: 3);
        var shapes = new Dictionary<string, long[]> { ["pixel_values"] = [2, 3, 32, 32] };

        var context = RotateAndCompare(model, SampleInputs.ForModel(model, 4, shapes));

        Assert.Equal(2 * config.Layers + 1, Counter(context, "norms"));
        Assert.Equal(config.Layers, Counter(context, "heads"));
        Assert.Equal(config.Layers, Counter(context, "online"));
        Assert.True(Counter(context, "layers") > 0);
    }

    [Fact]
    public void GeneratedLlama_IsExact()
    {
        var config = new LlamaConfig(96, 2, 4, 2, 160, 64);
        using var model = LlamaGenerator.Generate(config, seed: 2);
        var shapes = new Dictionary<string, long[]> { ["input_ids"] = [2, 12] };

        var context = RotateAndCompare(model, SampleInputs.ForModel(model, 4, shapes));

        Assert.Equal(2 * config.Layers + 1, Counter(context, "norms"));
        Assert.Equal(config.Layers, Counter(context, "heads"));
        Assert.Equal(config.Layers, Counter(context, "online"));   // 160 = H_20 ⊗ H_8
        Assert.True(Counter(context, "layers") >= 7 * config.Layers + 1);
    }

    [Fact]
    public void TheSeedPicksQ_AndTheSameSeedGivesTheSameBytes()
    {
        byte[] Rotated(int seed)
        {
            using var model = VitGenerator.Generate(VitConfig.Tiny, seed: 1);
            new RotatePass().Run(model, new RotateOptions { Seed = seed }, new PassContext());
            return OnnxWriter.ToBytes(model);
        }
        Assert.Equal(Rotated(5), Rotated(5));
        Assert.NotEqual(Rotated(5), Rotated(6));
    }

    /// <summary>
    /// Issue 16: the pass records each layer's edits and applies them when it writes the layer, one layer at a time,
    /// its row transforms split over threads; before, every layer was read first and edited step by step. Same bytes,
    /// on a Llama (RMS norm, grouped KV heads, SwiGLU's online Hadamard) and a ViT (LayerNorm made zero-mean, biases,
    /// the patch-embedding Conv).
    /// </summary>
    [Theory]
    [InlineData("llama")]
    [InlineData("vit")]
    public void EditingOneLayerAtATime_WritesTheBytes_OfEditingEveryLayerFirst(string family)
    {
        byte[] Rotated(bool allLayersFirst)
        {
            using var model = family == "llama"
                ? LlamaGenerator.Generate(new LlamaConfig(96, 2, 4, 2, 160, 64), seed: 2)
                : VitGenerator.Generate(VitConfig.Tiny, seed: 1);
            var context = new PassContext { CurrentPass = "rotate" };
            new RotatePass { EditAllLayersFirst = allLayersFirst }.Run(model, new RotateOptions(), context);
            Assert.True(context.Counters.GetValueOrDefault("rotate.layers") > 0);
            return OnnxWriter.ToBytes(model);
        }
        Assert.Equal(Rotated(allLayersFirst: true), Rotated(allLayersFirst: false));
    }

    [Fact]
    public void RotatedWeights_HaveSmallerOutliers_ThanTheOriginalOnes()
    {
        // A 64-wide stream with one outlier channel in the writer: after ·Q the largest |w| shrinks towards the row's RMS.
        var g = StreamGraph(64, out _);
        var writer = g.Model.Graph.Nodes.First(n => n.OpType == "MatMul");
        var w = writer.Inputs[1]!.Const!.ToFloatArray();
        for (int k = 0; k < 6; k++) w[k * 64 + 7] = 50;
        writer.ReplaceInput(1, g.Graph.AddConstant(Tensor.FromFloats(w, 6, 64)));
        double before = w.Max(Math.Abs);

        g.RunAndCompare(new RotatePass(), Tolerance);

        var rotated = g.Model.Graph.Nodes.First(n => n.OpType == "MatMul").Inputs[1]!.Const!.ToFloatArray();
        Assert.True(rotated.Max(Math.Abs) < before / 4, $"max |w| {rotated.Max(Math.Abs)} vs {before}");
    }

    // ---- must not fire ----

    /// <summary>x[·,6] → MatMul → h (the stream, width d) → norm → MatMul → + h → norm → MatMul → y.</summary>
    private static FusionTestGraph StreamGraph(int d, out Value stream, string norm = "LayerNormalization", string secondNorm = "LayerNormalization")
    {
        var g = new FusionTestGraph(21);
        var x = g.Input("x", 2, 3, 6);
        stream = g.Op("MatMul", x, g.Random(-1, 1, 6, d));
        Value Norm(string op, Value v) => op == "LayerNormalization"
            ? g.Op(op, [v, g.Random(0.5f, 2, d), g.Random(-1, 1, d)], Attribute.Int("axis", -1))
            : g.Op(op, [v, g.Random(0.5f, 2, d)], Attribute.Int("axis", -1));
        var mid = g.Op("Add", stream, g.Op("MatMul", g.Op("Relu", g.Op("MatMul", Norm(norm, stream), g.Random(-1, 1, d, 16))), g.Random(-1, 1, 16, d)));
        g.Output(g.Op("MatMul", Norm(secondNorm, mid), g.Random(-1, 1, d, 3)));
        return g;
    }

    private static PassContext AssertDoesNotFire(FusionTestGraph g, string reason)
    {
        var bytes = OnnxWriter.ToBytes(g.Model);
        var context = new PassContext { CurrentPass = "rotate" };
        var result = VerifiedPass.Run(new RotatePass(), g.Model, new RotateOptions { Canonicalize = false }, context);
        Assert.False(result.Modified);
        Assert.Equal(bytes, OnnxWriter.ToBytes(g.Model));
        var reasons = FusionTestGraph.Reasons(context);
        Assert.True(reasons.Any(r => r.Contains(reason, StringComparison.Ordinal)), $"recorded: {string.Join(" | ", reasons)}");
        return context;
    }

    [Fact]
    public void TheStreamGraph_Fires_AndIsExact()
    {
        var g = StreamGraph(16, out _);
        var context = new PassContext { CurrentPass = "rotate" };
        g.RunAndCompare(new RotatePass(), Tolerance, context);
        Assert.Equal(2, Counter(context, "norms"));
        Assert.Equal(1, Counter(context, "online"));
    }

    [Fact]
    public void AWidthWithoutAHadamardMatrix_IsRefused_SayingSo() =>
        AssertDoesNotFire(StreamGraph(10, out _), "the residual width 10 has no Hadamard matrix (supported orders are powers of two and K·2^m");

    [Fact]
    public void AModelWithoutNorms_IsLeftAlone_SayingSo()
    {
        var g = new FusionTestGraph(21);
        g.Output(g.Op("MatMul", g.Op("Relu", g.Input("x", 4, 8)), g.Random(-1, 1, 8, 8)));
        AssertDoesNotFire(g, "the model has no LayerNormalization or RMS norm");
    }

    [Fact]
    public void AStreamThatIsAGraphOutput_IsLeftAlone_SayingSo()
    {
        var g = StreamGraph(16, out var stream);
        g.Output(stream);
        AssertDoesNotFire(g, "is a graph output");
    }

    [Fact]
    public void MixedLayerNormAndRmsNorm_AreLeftAlone_SayingSo() =>
        AssertDoesNotFire(StreamGraph(16, out _, "LayerNormalization", "RMSNormalization"), "the model mixes LayerNormalization and RMS norms");

    [Fact]
    public void ANormOutputReadByANonLinearOp_IsLeftAlone_SayingSo()
    {
        var g = new FusionTestGraph(21);
        var h = g.Op("MatMul", g.Input("x", 2, 6), g.Random(-1, 1, 6, 16));
        var n = g.Op("LayerNormalization", [h, g.Random(0.5f, 2, 16), g.Random(-1, 1, 16)], Attribute.Int("axis", -1));
        g.Output(g.Op("MatMul", g.Op("Relu", n), g.Random(-1, 1, 16, 3)));
        AssertDoesNotFire(g, "output is read by Relu");
    }

    [Fact]
    public void AStreamMultipliedByAComputedTensor_IsLeftAlone_SayingSo()
    {
        var g = new FusionTestGraph(21);
        var x = g.Input("x", 2, 6);
        var h = g.Op("Mul", g.Op("MatMul", x, g.Random(-1, 1, 6, 16)), g.Op("MatMul", x, g.Random(-1, 1, 6, 16)));
        var n = g.Op("RMSNormalization", [h, g.Random(0.5f, 2, 16)], Attribute.Int("axis", -1));
        g.Output(g.Op("MatMul", n, g.Random(-1, 1, 16, 3)));
        var model = g.Model;
        model.SetOpset("", 23);
        AssertDoesNotFire(g, "which the rotation does not go through");
    }

    [Fact]
    public void ALayerNormStreamReadDirectlyByALinearLayer_IsLeftAlone_SayingSo()
    {
        var g = StreamGraph(16, out var stream);
        g.Output(g.Op("MatMul", stream, g.Random(-1, 1, 16, 2)));
        AssertDoesNotFire(g, "reads the residual stream of a LayerNorm model directly");
    }

    [Fact]
    public void AnAttentionWhoseValuesAreAGraphOutput_KeepsItsHeads_SayingSo_WhileTheStreamIsRotated()
    {
        var config = new LlamaConfig(64, 1, 4, 2, 128, 32);
        using var model = LlamaGenerator.Generate(config, seed: 2);
        // Expose V (as a KV cache would): rotating it per head would change that output.
        var v = model.Graph.Nodes.First(n => n.OpType == "MatMul" && n.Inputs[1]!.Name!.Contains("v_proj")).Outputs[0]!;
        model.Graph.Outputs.Add(v);
        var shapes = new Dictionary<string, long[]> { ["input_ids"] = [1, 8] };

        var context = RotateAndCompare(model, SampleInputs.ForModel(model, 4, shapes));

        Assert.Equal(0, Counter(context, "heads"));
        Assert.Contains(context.Misses["rotate.heads"].Keys, r => r.Contains("on the value path is a graph output", StringComparison.Ordinal));
    }

    // ---- in recipes ----

    [Fact]
    public void AloneInARecipe_ItWritesTheRotatedFloatModel()
    {
        using var folder = new ScratchFolder("rotate");
        string output = Path.Combine(folder.Path, "rotated.onnx");
        var result = Quantizer.Quantize(SharedPaths.Model("stories260k.onnx"), output, new QuantizeOptions
        {
            Recipe = RecipeSource.Yaml("name: rotate\npasses: [rotate]\n"),
        });

        Assert.True(result.Counters.GetValueOrDefault("rotate.layers") > 0);
        using var before = OnnxReader.Read(SharedPaths.Model("stories260k.onnx"));
        using var after = OnnxReader.Read(output);
        Assert.DoesNotContain(after.Graph.Nodes, n => n.OpType is "QuantizeLinear" or "DequantizeLinear" or "MatMulNBits");
        NumericAssert.SameOutputs(before, after, SharedModelInputs.For("stories260k.onnx", before), Tolerance);
    }
    [Fact]
    public void ThePreset_RotatesBeforeQuantizing_AndKeepsTheOnlineHadamardFloat()
    {
        using var folder = new ScratchFolder("rotate-preset");
        string output = Path.Combine(folder.Path, "w4a16-rotated.onnx");
        var result = Quantizer.Quantize(SharedPaths.Model("stories260k.onnx"), output, new QuantizeOptions
        {
            Recipe = RecipeSource.Preset("w4a16-rotated"),
        });

        Assert.Equal(5, result.Counters.GetValueOrDefault("rotate.online"));
        using var after = OnnxReader.Read(output);
        var hadamards = after.Graph.Nodes.Where(n => n.Name?.Contains("_hadamard", StringComparison.Ordinal) == true).ToList();
        Assert.Equal(5, hadamards.Count);
        Assert.All(hadamards, n => Assert.Equal("MatMul", n.OpType));
        Assert.All(hadamards, n => Assert.Equal(DataType.Float, n.Inputs[1]!.ElementType));
        // One H constant per order in the written file, read by every online MatMul of that width (not one per layer).
        Assert.Single(hadamards.Select(n => n.Inputs[1]).Distinct());
        Assert.Single(after.Graph.Constants, v => v.Name?.StartsWith("hadamard_", StringComparison.Ordinal) == true);
        Assert.Contains(after.Graph.Nodes, n => n.OpType == "MatMulNBits");
        using var before = OnnxReader.Read(SharedPaths.Model("stories260k.onnx"));
        var logits = NumericAssert.Run(after, SharedModelInputs.For("stories260k.onnx", before)).Values.Single();
        Assert.All(NumericAssert.ToDoubles(logits)!, v => Assert.True(double.IsFinite(v)));
    }
}
