using System.Collections.Concurrent;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Canonicalization;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Tests.Support;
using Xunit.Abstractions;

namespace OnnxQuant.Tests.Canonicalization;

/// <summary>
/// Shape inference on every shared model, checked against the shapes ONNX Runtime produces for every value of the
/// main graph on seeded inputs (free dimensions as in <see cref="SharedModelInputs"/>).
/// </summary>
public class ShapeInferenceSharedModelTests(ITestOutputHelper output)
{
    /// <summary>Fraction of main-graph values that must get a fully static shape once the inputs are fixed.</summary>
    private static readonly Dictionary<string, double> RequiredStaticFraction = new()
    {
        ["vit_mnist_b1.onnx"] = 0.9,
        ["ppocr_v4_rec.onnx"] = 0.9,
    };

    private static readonly ConcurrentDictionary<string, Dictionary<string, Tensor>> OrtShapes = new();

    public static TheoryData<string> SharedModels() => new(SharedPaths.AllModels().Select(Path.GetFileName)!);

    [Theory]
    [MemberData(nameof(SharedModels))]
    public void StaticShapes_EqualOrtShapes_WhenInputShapesAreFixed(string file)
    {
        using var model = OnnxReader.Read(SharedPaths.Model(file));
        var ort = OrtResults(file, model);
        var options = new InferShapesOptions
        {
            Shapes = SharedModelInputs.ShapesFor(file).Select(kv => $"{kv.Key}={string.Join(",", kv.Value)}").ToList(),
        };
        var context = new PassContext { CurrentPass = "infer-shapes" };
        new InferShapesPass().Run(model, options, context);

        var comparison = ShapeInferenceTestSupport.Compare(model, ort);
        output.WriteLine($"{file} (inputs fixed): {comparison}");
        foreach (string s in comparison.NotStatic.Take(20)) output.WriteLine("  not static: " + s);
        Assert.True(comparison.Mismatches.Count == 0, string.Join("\n", comparison.Mismatches.Take(20)));
        Assert.Equal(0, context.Counters.GetValueOrDefault("infer-shapes.conflicts"));
        double fraction = (double)comparison.Static / comparison.Values;
        Assert.True(fraction >= RequiredStaticFraction.GetValueOrDefault(file, 0),
            $"{file}: only {comparison.Static}/{comparison.Values} values got a static shape.");
    }

    /// <summary>
    /// After the cleanup preset the ops take their opset-21 forms (axes and pads as inputs, …) and the fused ones
    /// appear (LayerNormalization, HardSwish, RMS normalization, Gelu, Gemm).
    /// </summary>
    [Theory]
    [MemberData(nameof(SharedModels))]
    public void StaticShapes_EqualOrtShapes_AfterTheCleanupPreset(string file)
    {
        using var model = OnnxReader.Read(SharedPaths.Model(file));
        new PassManager(RecipeLoader.LoadFileOrPreset("cleanup").Steps).Run(model, new PassContext());
        var ort = ShapeInferenceTestSupport.RunWithAllValues(model, SharedModelInputs.For(file, model, seed: 1));
        var options = new InferShapesOptions
        {
            Shapes = SharedModelInputs.ShapesFor(file).Select(kv => $"{kv.Key}={string.Join(",", kv.Value)}").ToList(),
        };
        var context = new PassContext { CurrentPass = "infer-shapes" };
        new InferShapesPass().Run(model, options, context);

        var comparison = ShapeInferenceTestSupport.Compare(model, ort);
        output.WriteLine($"{file} (after cleanup, inputs fixed): {comparison}");
        Assert.True(comparison.Mismatches.Count == 0, string.Join("\n", comparison.Mismatches.Take(20)));
        Assert.Equal(0, context.Counters.GetValueOrDefault("infer-shapes.conflicts"));
        Assert.True((double)comparison.Static / comparison.Values >= RequiredStaticFraction.GetValueOrDefault(file, 0),
            $"{file}: only {comparison.Static}/{comparison.Values} values got a static shape after cleanup.");
    }

    [Theory]
    [MemberData(nameof(SharedModels))]
    public void SymbolicShapes_AgreeWithOrtShapes_UnderTheSampleSizes(string file)
    {
        using var model = OnnxReader.Read(SharedPaths.Model(file));
        var ort = OrtResults(file, model);
        var binding = new Dictionary<string, long>();
        var fixedShapes = SharedModelInputs.ShapesFor(file);
        foreach (var input in model.Graph.Inputs)
            if (input.Type is TensorType { Shape: { } s } && fixedShapes.TryGetValue(input.Name!, out var dims))
                for (int i = 0; i < s.Rank; i++)
                    if (s[i].Param is { } p) binding[p] = dims[i];
        var context = new PassContext { CurrentPass = "infer-shapes" };
        new InferShapesPass().Run(model, new InferShapesOptions(), context);

        var comparison = ShapeInferenceTestSupport.Compare(model, ort, binding);
        output.WriteLine($"{file} (symbolic): {comparison}");
        Assert.True(comparison.Mismatches.Count == 0, string.Join("\n", comparison.Mismatches.Take(20)));
        Assert.Equal(0, context.Counters.GetValueOrDefault("infer-shapes.conflicts"));
        Assert.True(comparison.DimsChecked > 0);
    }

    [Theory]
    [MemberData(nameof(SharedModels))]
    public void SecondRun_ChangesNothing(string file)
    {
        using var model = OnnxReader.Read(SharedPaths.Model(file));
        var pass = new InferShapesPass();
        pass.Run(model, new PassContext());
        string before = Types(model);
        var second = pass.Run(model, new PassContext());
        Assert.False(second.Modified);
        Assert.Equal(before, Types(model));
    }

    private static string Types(Model model) =>
        string.Join("\n", model.AllGraphs().SelectMany(g => g.Nodes).SelectMany(n => n.Outputs).Select(v => $"{v?.Name}:{v?.Type}"));

    private static Dictionary<string, Tensor> OrtResults(string file, Model model) =>
        OrtShapes.GetOrAdd(file, _ => ShapeInferenceTestSupport.RunWithAllValues(model, SharedModelInputs.For(file, model, seed: 1)));
}
