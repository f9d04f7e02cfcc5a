using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Canonicalization;
using OnnxQuant.Ir.Verification;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Canonicalization;

/// <summary>
/// Builds tiny old-opset models in code, upgrades them, and compares what ONNX Runtime computes before and after
/// (graph optimizations off, explicit tolerance).
/// </summary>
internal static class OpsetUpgradeTestKit
{
    public static TensorType Float(params long[] dims) => new(DataType.Float, new Shape(dims));

    /// <summary>A model importing ai.onnx at <paramref name="opset"/> whose graph <paramref name="build"/> fills.</summary>
    public static Model Build(int opset, Action<Graph> build, long irVersion = 4)
    {
        var graph = new Graph { Name = "test" };
        build(graph);
        var model = new Model(graph) { IrVersion = irVersion, ProducerName = "opset-upgrade-tests" };
        model.OpsetImports.Add(new OpsetImport("", opset));
        return model;
    }

    /// <summary>Appends a node and returns it.</summary>
    public static Node Add(this Graph graph, string op, Value?[] inputs, params Attribute[] attributes) =>
        graph.Append(new Node(op, inputs, 1, "", attributes, name: op.ToLowerInvariant()));

    /// <summary>Seeded floats in [-2, 2).</summary>
    public static Tensor RandomFloats(int seed, params long[] dims)
    {
        var random = new Random(seed);
        long n = dims.Aggregate(1L, (a, b) => a * b);
        return Tensor.FromFloats(Enumerable.Range(0, (int)n).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray(), dims);
    }

    /// <summary>
    /// Runs the model, upgrades it (default target 21), checks the opset import and the graph's structure, runs it again
    /// and returns both results.
    /// The model is re-read from bytes before the upgrade so that the upgrade sees what a file would give.
    /// </summary>
    public static (Model Upgraded, IReadOnlyDictionary<string, Tensor> Before, IReadOnlyDictionary<string, Tensor> After)
        UpgradeAndRun(Model model, IReadOnlyDictionary<string, Tensor> feeds, int target = 21, PassContext? context = null)
    {
        var before = NumericAssert.Run(model, feeds);
        var upgraded = OnnxReader.Read(OnnxWriter.ToBytes(model));
        var result = new UpgradeOpsetPass().Run(upgraded, new UpgradeOpsetOptions { TargetOpset = target }, context ?? new PassContext());
        Assert.True(result.Modified);
        Assert.Equal(target, upgraded.GetOpset(""));
        Verifier.Verify(upgraded).ThrowIfInvalid("after upgrade-opset");
        var after = NumericAssert.Run(upgraded, feeds);
        return (upgraded, before, after);
    }

    /// <summary>Every output agrees: max|a − b| / max|a| ≤ <paramref name="relative"/> (NumericAssert's measure).</summary>
    public static void AssertSameOutputs(IReadOnlyDictionary<string, Tensor> expected, IReadOnlyDictionary<string, Tensor> actual,
        double relative, string what = "") => NumericAssert.SameOutputs(expected, actual, relative, what);

    public static int Count(Model model, string op) => model.AllGraphs().SelectMany(g => g.Nodes).Count(n => n.OpType == op);
}
