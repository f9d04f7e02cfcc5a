using OnnxQuant.Tests.Support;
using OnnxQuant.Ir;
using OnnxQuant.Passes;
using OnnxQuant.Runtime;

namespace OnnxQuant.Tests.Fusion;

/// <summary>
/// Builds small float models for the fusion tests and checks a pass numerically: both graphs run in ONNX Runtime
/// with graph optimizations off, compared by max |a − b| / max |a| against an explicit tolerance.
/// </summary>
internal sealed class FusionTestGraph
{
    private readonly Random _random;

    public FusionTestGraph(long opset, int seed = 1)
    {
        Graph = new Graph();
        Model = new Model(Graph) { IrVersion = 10 };
        Model.SetOpset("", opset);
        _random = new Random(seed);
    }

    public Graph Graph { get; }
    public Model Model { get; }

    public Value Input(string name, params long[] dims) => Graph.AddInput(name, new TensorType(DataType.Float, new Shape(dims)));

    /// <summary>A rank-0 float constant.</summary>
    public Value Scalar(float value) => Graph.AddConstant(Tensor.FromFloats([value]));

    public Value Const(float[] data, params long[] dims) => Graph.AddConstant(Tensor.FromFloats(data, dims));

    /// <summary>A constant of seeded values in [low, high).</summary>
    public Value Random(float low, float high, params long[] dims)
    {
        long n = dims.Aggregate(1L, (a, b) => a * b);
        return Const(Enumerable.Range(0, (int)n).Select(_ => low + (float)_random.NextDouble() * (high - low)).ToArray(), dims);
    }

    public Value Int64s(params long[] values) => Graph.AddConstant(Tensor.FromInt64s(values, values.Length));

    public Value Op(string opType, params Value?[] inputs) => Node(opType, inputs).Output;

    public Value Op(string opType, Value?[] inputs, params Attribute[] attributes) => Node(opType, inputs, attributes).Output;

    public Node Node(string opType, Value?[] inputs, params Attribute[] attributes) =>
        Graph.Append(new Node(opType, inputs, 1, "", attributes));

    public void Output(Value value)
    {
        value.Type ??= new TensorType(DataType.Float);
        Graph.Outputs.Add(value);
    }

    public int Count(string opType) => Count(Model, opType);

    public static int Count(Model model, string opType) => model.Graph.AllNodes().Count(n => n.OpType == opType);

    /// <summary>Runs <paramref name="pass"/> and asserts that the outputs before and after agree within <paramref name="tolerance"/>.</summary>
    public PassResult RunAndCompare(IPass pass, double tolerance, PassContext? context = null) =>
        RunAndCompare(Model, pass, tolerance, SampleInputs.ForModel(Model, seed: 7), context);

    public static PassResult RunAndCompare(Model model, IPass pass, double tolerance, IReadOnlyDictionary<string, Tensor> feeds,
        PassContext? context = null)
    {
        var before = ModelRunner.RunOnce(model, feeds);
        var result = VerifiedPass.Run(pass, model, context ?? new PassContext());
        var after = ModelRunner.RunOnce(model, feeds);
        AssertClose(before, after, tolerance);
        return result;
    }

    /// <summary>
    /// Runs <paramref name="pass"/> (then the verifier) and asserts that it changed nothing and that one of the near
    /// misses its patterns recorded says <paramref name="reason"/>: a test graph built wrongly would miss for another
    /// reason and fail here. Returns the context for further checks.
    /// </summary>
    public static PassContext AssertDoesNotFire(Model model, IPass pass, string reason, PassContext? context = null)
    {
        context ??= new PassContext();
        Assert.False(VerifiedPass.Run(pass, model, context).Modified);
        var reasons = Reasons(context);
        Assert.True(reasons.Any(r => r.Contains(reason, StringComparison.Ordinal)),
            $"No near miss of {pass.Name} says '{reason}'; recorded: {string.Join(" | ", reasons)}");
        return context;
    }

    public PassContext AssertDoesNotFire(IPass pass, string reason, PassContext? context = null) => AssertDoesNotFire(Model, pass, reason, context);

    /// <summary>Every near-miss reason recorded in <paramref name="context"/>.</summary>
    public static List<string> Reasons(PassContext context) => context.Misses.Values.SelectMany(r => r.Keys).ToList();

    public static void AssertClose(IReadOnlyDictionary<string, Tensor> expected, IReadOnlyDictionary<string, Tensor> actual, double tolerance)
    {
        foreach (var (name, e) in expected)
            Assert.True(NumericAssert.ToDoubles(e)!.Any(v => v != 0), $"Output {name} is all zeros: the comparison would prove nothing.");
        NumericAssert.SameOutputs(expected, actual, tolerance);
    }
}
