using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Recipes;

/// <summary>The built-in <c>cleanup</c> preset on every shared model (issue: pipeline, recipes, canonicalization).</summary>
public class CleanupPresetTests
{
    public static TheoryData<string> SharedModels() => new(SharedPaths.AllModels().Select(Path.GetFileName)!);

    private static Model Cleanup(Model model)
    {
        var recipe = RecipeLoader.LoadFileOrPreset("cleanup");
        // VerifyEach runs the IR verifier after every pass: a pass that breaks an invariant fails here.
        new PassManager(recipe.Steps) { VerifyEach = true }.Run(model, new PassContext());
        return model;
    }

    [Theory]
    [MemberData(nameof(SharedModels))]
    public void Cleanup_KeepsEveryOutput_Within1e5_AndReachesOpset21(string file)
    {
        using var original = OnnxReader.Read(SharedPaths.Model(file));
        using var cleaned = Cleanup(OnnxReader.Read(SharedPaths.Model(file)));
        var feeds = SharedModelInputs.For(file, original, seed: 4);
        NumericAssert.SameOutputs(original, cleaned, feeds, relTol: 1e-5);
        Assert.Equal(21, cleaned.GetOpset(""));
        Assert.DoesNotContain(cleaned.AllGraphs().SelectMany(g => g.Nodes), n => ConstantNode.IsConstantNode(n));
    }

    [Fact]
    public void Cleanup_OnPpOcr_FusesLayerNormAndHardSwish_AndDropsAQuarterOfTheNodes()
    {
        // The original has 440 nodes besides its Constant nodes (read without lifting them to count like the file).
        var raw = OnnxReader.ReadProto(SharedPaths.Model("ppocr_v4_rec.onnx"));
        int originalNonConstant = raw.Graph.Node.Count(n => n.OpType != "Constant");
        using var cleaned = Cleanup(OnnxReader.Read(SharedPaths.Model("ppocr_v4_rec.onnx")));
        var ops = cleaned.Graph.Nodes.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());

        Assert.Equal(440, originalNonConstant);
        Assert.Equal(5, ops.GetValueOrDefault("LayerNormalization"));
        Assert.Equal(28, ops.GetValueOrDefault("HardSwish"));
        Assert.False(ops.ContainsKey("Pow"));
        Assert.False(ops.ContainsKey("Constant"));
        Assert.True(cleaned.Graph.NodeCount <= 0.75 * originalNonConstant,
            $"cleanup left {cleaned.Graph.NodeCount} of {originalNonConstant} nodes; at least 25% fewer expected.");
    }

    [Fact]
    public void Cleanup_OnStories260k_Gives11RmsNormalizations_AndNoPow()
    {
        using var cleaned = Cleanup(OnnxReader.Read(SharedPaths.Model("stories260k.onnx")));
        var ops = cleaned.Graph.Nodes.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(11, ops.GetValueOrDefault("SimplifiedLayerNormalization") + ops.GetValueOrDefault("RMSNormalization"));
        Assert.False(ops.ContainsKey("Pow"));
    }

    [Fact]
    public void Cleanup_IsIdempotent_OnTheDemoVit()
    {
        using var once = Cleanup(OnnxReader.Read(Path.Combine(SharedPaths.RepoRoot, "models", "vit-tiny.onnx")));
        byte[] first = OnnxWriter.ToBytes(once);
        var result = new PassManager(RecipeLoader.LoadFileOrPreset("cleanup").Steps).Run(once, new PassContext());
        Assert.DoesNotContain(result.Runs, r => r.Modified);
        Assert.Equal(first, OnnxWriter.ToBytes(once));
        // The demo ViT is exported at opset 14: after the upgrade its LayerNorms and GELUs are fused.
        Assert.Equal(5, once.Graph.Nodes.Count(n => n.OpType == "LayerNormalization"));
        Assert.Equal(2, once.Graph.Nodes.Count(n => n.OpType == "Gelu"));
    }
}
