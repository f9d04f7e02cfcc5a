using OnnxQuant.Ir;
using OnnxQuant.Passes;
using OnnxQuant.DemoModels;
using OnnxQuant.Passes.Fusion;
using OnnxQuant.Runtime;

namespace OnnxQuant.Tests.Fusion;

/// <summary>The fusions on the generated ViT, which PyTorch-style export leaves with decomposed LayerNorm and GELU.</summary>
public class VitTinyFusionTests
{
    private static readonly Dictionary<string, long[]> Shapes = new() { ["pixel_values"] = [2, 3, 32, 32] };

    [Fact]
    public void VitTiny_AtOpset17_GetsAllItsLayerNormsFused_WithTheSameLogits()
    {
        using var model = VitGenerator.Generate(VitConfig.Tiny, seed: 5);
        // The generator writes opset 14; none of the ops it uses (Conv, Reshape, Transpose, Gather, Shape, Concat,
        // Expand, Add, Sub, Mul, Div, Pow, Sqrt, ReduceMean with axes as attribute, MatMul, Softmax, Erf, Gemm)
        // changes meaning between 14 and 17, so importing 17 is exact for this model (not for models in general).
        model.SetOpset("", 17);
        var feeds = SampleInputs.ForModel(model, seed: 9, Shapes);
        var context = new PassContext();

        var result = FusionTestGraph.RunAndCompare(model, new FuseLayerNormPass(), 1e-5, feeds, context);

        Assert.True(result.Modified);
        int layerNorms = 2 * VitConfig.Tiny.Layers + 1;
        Assert.Equal(layerNorms, FusionTestGraph.Count(model, "LayerNormalization"));
        Assert.Equal(layerNorms, context.Counters.GetValueOrDefault("fused"));
        Assert.Equal(0, FusionTestGraph.Count(model, "Pow"));
        Assert.Equal(0, FusionTestGraph.Count(model, "ReduceMean"));
    }

    [Fact]
    public void VitTiny_AtItsOpset14_ReportsEveryLayerNormAndGeluAsSkipped()
    {
        using var model = VitGenerator.Generate(VitConfig.Tiny, seed: 5);
        int before = model.Graph.NodeCount;
        var context = new PassContext();

        new FuseLayerNormPass().Run(model, context);
        var afterLayerNorm = context.Counters.GetValueOrDefault("skipped-opset");
        new FuseGeluPass().Run(model, context);

        Assert.Equal(before, model.Graph.NodeCount);
        Assert.Equal(2 * VitConfig.Tiny.Layers + 1, afterLayerNorm);
        Assert.Equal(VitConfig.Tiny.Layers, context.Counters.GetValueOrDefault("skipped-opset") - afterLayerNorm);
    }
}
