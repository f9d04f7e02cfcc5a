using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Equivalence;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Diffusion;

/// <summary>
/// ViDiT-Q's rotation (<c>rotate: {online-inputs: true}</c>): every selected linear layer reads x·H and its weight is
/// Hᵀ·B, the out-projection is rotated per head. The float rotated denoiser is checked against the float denoiser in
/// ONNX Runtime (optimizations off, max|a−b| / max|a| ≤ 1e-4); the layers the diffusion presets keep float are left
/// as they were; must-not-fire cases assert the recorded reason.
/// </summary>
public sealed class OnlineInputRotationTests
{
    private const double Tolerance = 1e-4;

    private static Model Copy(Model model) => OnnxReader.Read(OnnxWriter.ToBytes(model));

    private static RotateOptions DiffusionOptions => new() { OnlineInputs = true, ExcludeConditioningPath = true, ExcludeOutputLayers = true };

    /// <summary>Two samples at two timesteps, one conditional and one unconditional (class 10).</summary>
    private static Dictionary<string, Tensor> DitFeeds()
    {
        var random = new Random(5);
        return new Dictionary<string, Tensor>
        {
            ["x"] = Tensor.FromFloats(Enumerable.Range(0, 2 * 28 * 28).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray(), 2, 1, 28, 28),
            ["t"] = Tensor.FromInt64s([900, 40], 2),
            ["y"] = Tensor.FromInt64s([3, 10], 2),
        };
    }

    private static long Counter(PassContext context, string name) => context.Counters.GetValueOrDefault($"rotate.{name}");

    private static Dictionary<string, byte[]> FloatWeights(Model model) =>
        model.Graph.Nodes.Where(n => n.OpType is "MatMul" or "Gemm" && n.Inputs[1]?.Const is not null && n.Name is not null)
            .ToDictionary(n => n.Name!, n => n.Inputs[1]!.Const!.RawData.ToArray());

    [Fact]
    public void DitMnist_RotatedInputsOfTheBlockLayers_AreExactInOrt_AndTheFloatLayersAreLeftAlone()
    {
        using var model = OnnxReader.Read(SharedPaths.Model("dit_mnist.onnx"));
        using var before = Copy(model);
        var context = new PassContext { CurrentPass = "rotate" };

        Assert.True(VerifiedPass.Run(new RotatePass(), model, DiffusionOptions, context).Modified);

        NumericAssert.SameOutputs(before, model, DitFeeds(), Tolerance);
        // 6 blocks: qkv (one fused layer) and MLP up read x·H_128, MLP down x·H_512 (18 online MatMuls reading two
        // constants), the attention out-projection is rotated per head (no online op).
        Assert.Equal(24, Counter(context, "layers"));
        Assert.Equal(18, Counter(context, "online"));
        Assert.Equal(6, Counter(context, "heads"));
        var hadamards = model.Graph.Nodes.Where(n => n.OpType == "MatMul" && n.Inputs[1]!.Name!.StartsWith("hadamard_", StringComparison.Ordinal)).ToList();
        Assert.Equal(18, hadamards.Count);
        Assert.All(hadamards, h => Assert.Contains("_hadamard", h.Name));  // the presets exclude *_hadamard* from quantization
        Assert.Equal(["hadamard_128", "hadamard_512"], hadamards.Select(h => h.Inputs[1]!.Name!).Distinct().Order());
        Assert.Equal(12, hadamards.Count(h => h.Inputs[1]!.Const!.Dims is [128, 128]));
        // The adaLN modulation, the timestep MLP (9 layers) and the final layer keep their weights byte for byte.
        var online = context.Misses["rotate.online"];
        Assert.Equal(9, online["on the conditioning path (exclude-conditioning-path)"]);
        Assert.Equal(1, online["an output layer (exclude-output-layers)"]);
        using var cleaned = Copy(before);
        new PassManager(OnnxQuant.Passes.Recipes.RecipeLoader.LoadFileOrPreset("cleanup").Steps).Run(cleaned, new PassContext());
        var untouched = FloatWeights(cleaned).Where(kv => kv.Key.Contains("adaLN") || kv.Key.Contains("t_embedder") || kv.Key.Contains("final_layer")).ToList();
        Assert.Equal(10, untouched.Count);
        var after = FloatWeights(model);
        Assert.All(untouched, kv => Assert.Equal(kv.Value, after[kv.Key]));
    }

    [Fact]
    public void TheSameSeed_GivesTheSameBytes()
    {
        using var a = TinyMatMulDenoiser.Build();
        using var b = TinyMatMulDenoiser.Build();
        VerifiedPass.Run(new RotatePass(), a, new RotateOptions { OnlineInputs = true }, new PassContext());
        VerifiedPass.Run(new RotatePass(), b, new RotateOptions { OnlineInputs = true }, new PassContext());
        Assert.Equal(OnnxWriter.ToBytes(a), OnnxWriter.ToBytes(b));
    }

    [Fact]
    public void WithoutExclusions_EveryLayerOfTheTinyDenoiserIsRotated_AndItStaysExact()
    {
        using var model = TinyMatMulDenoiser.Build();
        using var before = TinyMatMulDenoiser.Build();
        var context = new PassContext { CurrentPass = "rotate" };

        Assert.True(VerifiedPass.Run(new RotatePass(), model, new RotateOptions { OnlineInputs = true, Canonicalize = false }, context).Modified);

        var feeds = new Dictionary<string, Tensor>
        {
            ["x"] = Tensor.FromFloats([0.5f, -1.5f, 2f, 0.25f, -3f, 1f, 0f, 0.75f], 2, 1, 2, 2),
            ["t"] = Tensor.FromInt64s([999, 3], 2),
        };
        NumericAssert.SameOutputs(before, model, feeds, Tolerance);
        // block (K 4), conditioning (K 1 = H_1) and output (K 8) layers, each its own input.
        Assert.Equal(3, Counter(context, "online"));
    }

    [Fact]
    public void WhenEveryLayerIsExcluded_NothingChanges_AndTheReasonsAreRecorded()
    {
        using var model = TinyMatMulDenoiser.Build();
        var bytes = OnnxWriter.ToBytes(model);
        var context = new PassContext { CurrentPass = "rotate" };
        var options = new RotateOptions
        {
            OnlineInputs = true, Canonicalize = false, ExcludeConditioningPath = true, ExcludeOutputLayers = true, ExcludeNodes = ["block_*"],
        };

        Assert.False(VerifiedPass.Run(new RotatePass(), model, options, context).Modified);

        Assert.Equal(bytes, OnnxWriter.ToBytes(model));
        Assert.Contains("no linear layer's input could be rotated (see rotate.online)", context.Misses["rotate.stream"].Keys);
        Assert.Equal(1, context.Misses["rotate.online"]["excluded by exclude-nodes"]);
        Assert.Equal(1, context.Misses["rotate.online"]["on the conditioning path (exclude-conditioning-path)"]);
        Assert.Equal(1, context.Misses["rotate.online"]["an output layer (exclude-output-layers)"]);
    }

    [Fact]
    public void ExclusionsWithoutOnlineInputs_AreRefused_SayingHowToFix()
    {
        using var model = TinyMatMulDenoiser.Build();
        var error = Assert.Throws<OnnxQuantException>(() =>
            new RotatePass().Run(model, new RotateOptions { ExcludeOutputLayers = true }, new PassContext()));
        Assert.Contains("apply only with online-inputs: true", error.Message);
    }
}
