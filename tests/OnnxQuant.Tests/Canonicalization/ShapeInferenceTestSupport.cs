using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime;

namespace OnnxQuant.Tests.Canonicalization;

/// <summary>
/// Small models built in code for the shape inference tests, and the check they share: run the model in ONNX
/// Runtime with every intermediate value exposed, then compare each shape inference inferred with the shape ORT
/// produced.
/// </summary>
internal sealed class TestModel
{
    private readonly Random _random = new(7);

    public TestModel(int opset = 17, bool microsoft = false)
    {
        Graph = new Graph { Name = "test" };
        Model = new Model(Graph) { IrVersion = 10 };
        Model.OpsetImports.Add(new OpsetImport("", opset));
        if (microsoft) Model.OpsetImports.Add(new OpsetImport("com.microsoft", 1));
        Opset = opset;
    }

    public Graph Graph { get; }
    public Model Model { get; }

    /// <summary>Values whose size depends on data (NonZero …): only what inference knows of them is checked.</summary>
    public List<Value> DataDependent { get; } = [];

    /// <summary>Feeds to use instead of seeded samples (e.g. valid indices).</summary>
    public Dictionary<string, Tensor>? Feeds { get; set; }
    public int Opset { get; }

    public Value Input(string name, DataType type, params long[] dims) =>
        Graph.AddInput(name, new TensorType(type, new Shape(dims)));

    public Value Input(string name, DataType type, Shape shape) => Graph.AddInput(name, new TensorType(type, shape));

    public Value Ints(params long[] values) => Graph.AddConstant(Tensor.FromInt64s(values, values.Length));

    public Value Scalar(long value) => Graph.AddConstant(Tensor.FromInt64s([value]));

    public Value FloatScalar(float value) => Graph.AddConstant(Tensor.FromFloats([value]));

    public Value Floats(params long[] dims)
    {
        long n = dims.Aggregate(1L, (a, b) => a * b);
        var data = new float[n];
        for (int i = 0; i < n; i++) data[i] = (float)(_random.NextDouble() * 2 - 1);
        return Graph.AddConstant(Tensor.FromFloats(data, dims));
    }

    public Value Floats(float[] values) => Graph.AddConstant(Tensor.FromFloats(values, values.Length));

    public Value Constant(Tensor t) => Graph.AddConstant(t);

    /// <summary>Appends a node; its outputs become graph outputs so ORT computes them.</summary>
    public Value[] Ops(string op, Value?[] inputs, int outputs, params Attribute[] attributes) =>
        OpsIn("", op, inputs, outputs, attributes);

    public Value[] OpsIn(string domain, string op, Value?[] inputs, int outputs, params Attribute[] attributes)
    {
        var node = Graph.Append(new Node(op, inputs, outputs, domain, attributes));
        foreach (var o in node.Outputs) Graph.Outputs.Add(o!);
        return node.Outputs.Select(o => o!).ToArray();
    }

    public Value Op(string op, Value?[] inputs, params Attribute[] attributes) => Ops(op, inputs, 1, attributes)[0];

    public Value OpIn(string domain, string op, Value?[] inputs, params Attribute[] attributes) =>
        OpsIn(domain, op, inputs, 1, attributes)[0];
}

internal static class ShapeInferenceTestSupport
{
    /// <summary>
    /// The shapes and element types ORT produces for every main-graph node output, from a copy of the model (so no
    /// inferred type can influence ORT).
    /// </summary>
    public static Dictionary<string, Tensor> RunWithAllValues(Model model, IReadOnlyDictionary<string, Tensor>? feeds = null, int seed = 3)
    {
        using var copy = OnnxReader.Read(OnnxWriter.ToBytes(model));
        var names = copy.Graph.Nodes.SelectMany(n => n.Outputs)
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
    public static void AssertInferredShapesMatchOrt(TestModel m)
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
        runner.Run(feeds ?? SampleInputs.ForModel(inferred, 3));
    }
}
