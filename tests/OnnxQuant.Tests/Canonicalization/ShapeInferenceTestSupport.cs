using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime;

namespace OnnxQuant.Tests.Canonicalization;

/// <summary>
/// The check the shape inference tests share: run the model in ONNX Runtime with every intermediate value exposed,
/// then compare each shape inference inferred with the shape ORT produced.
/// </summary>
internal static class ShapeInferenceTestSupport
{
    /// <summary>Ops whose outputs are sequences, which ORT cannot hand back as tensors.</summary>
    private static readonly HashSet<string> SequenceProducers =
        ["SequenceEmpty", "SequenceConstruct", "SequenceInsert", "SequenceErase", "SplitToSequence"];

    /// <summary>
    /// The shapes and element types ORT produces for every main-graph node output, from a copy of the model (so no
    /// inferred type can influence ORT).
    /// </summary>
    public static Dictionary<string, Tensor> RunWithAllValues(Model model, IReadOnlyDictionary<string, Tensor>? feeds = null, int seed = 3)
    {
        using var copy = OnnxReader.Read(OnnxWriter.ToBytes(model));
        var names = copy.Graph.Nodes.Where(n => !SequenceProducers.Contains(n.OpType)).SelectMany(n => n.Outputs)
            .Where(v => v is not null && v.Type is null or TensorType).Select(v => v!.Name!).ToList();
        feeds ??= SampleInputs.ForModel(copy, seed);
        using var runner = ModelRunner.FromModel(copy, extraOutputs: names);
        return new Dictionary<string, Tensor>(runner.Run(feeds, names), StringComparer.Ordinal);
    }

    /// <summary>Result of comparing inferred shapes with ORT's.</summary>
    public sealed record Comparison(int Values, int Static, int DimsChecked, List<string> Mismatches, List<string> NotStatic)
    {
        public override string ToString() => $"{Static}/{Values} static, {DimsChecked} dims checked, {Mismatches.Count} mismatches";
    }

    /// <summary>
    /// Compares every main-graph node output: element type, rank, and each dimension that inference knows (a known
    /// size, or a symbolic one that <paramref name="binding"/> can evaluate, products included).
    /// </summary>
    public static Comparison Compare(Model inferred, IReadOnlyDictionary<string, Tensor> ort, IReadOnlyDictionary<string, long>? binding = null)
    {
        var mismatches = new List<string>();
        var notStatic = new List<string>();
        int values = 0, statics = 0, dims = 0;
        foreach (var node in inferred.Graph.Nodes)
            foreach (var v in node.Outputs)
            {
                if (v is null || !ort.TryGetValue(v.Name!, out var actual)) continue;
                values++;
                if (v.Type is not TensorType t)
                {
                    notStatic.Add($"{node} {v}: no type");
                    continue;
                }
                if (t.ElementType != actual.ElementType)
                    mismatches.Add($"{node} {v}: inferred {t.ElementType.OnnxName()}, ORT gives {actual.ElementType.OnnxName()}");
                if (t.Shape is null)
                {
                    notStatic.Add($"{node} {v}: {t}");
                    continue;
                }
                if (t.Shape.Rank != actual.Rank)
                {
                    mismatches.Add($"{node} {v}: inferred {t}, ORT gives {Tensor.FormatDims(actual.Dims)}");
                    continue;
                }
                if (t.Shape.IsStatic) statics++;
                else notStatic.Add($"{node} {v}: {t}");
                for (int i = 0; i < t.Shape.Rank; i++)
                {
                    long? expected = t.Shape[i].Value ?? Evaluate(t.Shape[i].Param, binding);
                    if (expected is null) continue;
                    dims++;
                    if (expected != actual.Dims[i])
                        mismatches.Add($"{node} {v}: inferred {t}, ORT gives {Tensor.FormatDims(actual.Dims)}");
                }
            }
        return new Comparison(values, statics, dims, mismatches.Distinct().ToList(), notStatic);
    }

    /// <summary>Evaluates a symbolic size (a name or a product like <c>2*batch*seq</c>) under a binding.</summary>
    public static long? Evaluate(string? param, IReadOnlyDictionary<string, long>? binding)
    {
        if (param is null || binding is null) return null;
        long product = 1;
        foreach (string part in param.Split('*'))
        {
            if (long.TryParse(part, out long n)) product *= n;
            else if (binding.TryGetValue(part, out long b)) product *= b;
            else return null;
        }
        return product;
    }

    /// <summary>
    /// Runs ORT on the model, infers shapes, and asserts that every value got a type and a static shape equal to
    /// ORT's (or, for values whose size depends on data, that what is known agrees). Also loads the inferred model in
    /// ORT, which rejects value_info that contradicts its own inference.
    /// </summary>
    public static void AssertInferredShapesMatchOrt(ShapeInferenceTestModel m)
    {
        var feeds = m.Feeds;
        var ort = RunWithAllValues(m.Model, feeds);
        var stats = Passes.Analysis.ShapeInference.ShapeInference.Run(m.Model);
        Assert.Empty(stats.Conflicts);
        Assert.Empty(stats.UnsupportedOps);
        var comparison = Compare(m.Model, ort);
        Assert.True(comparison.Mismatches.Count == 0, string.Join("\n", comparison.Mismatches));
        var skip = m.DataDependent.Select(v => v.Name).ToHashSet();
        var missing = comparison.NotStatic.Where(s => !skip.Any(name => s.Contains($"%{name}:", StringComparison.Ordinal))).ToList();
        Assert.True(missing.Count == 0, "Not inferred statically:\n" + string.Join("\n", missing));
        Assert.True(comparison.Values > 0);
        // ORT accepts the model with the inferred types written as value_info.
        using var inferred = OnnxReader.Read(OnnxWriter.ToBytes(m.Model));
        using var runner = ModelRunner.FromModel(inferred);
        runner.Run(feeds ?? SampleInputs.ForModel(inferred, 3),
            inferred.Graph.Outputs.Where(v => v.Type is TensorType).Select(v => v.Name!).ToList());
    }
}
