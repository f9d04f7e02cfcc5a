using OnnxQuant.Ir;

namespace OnnxQuant.DemoModels;

/// <summary>Appends single-output nodes and constants to a graph, for the demo model generators.</summary>
internal sealed class GraphOps(Graph graph)
{
    public Graph Graph => graph;

    /// <summary>Weights and activations are float16 instead of float32.</summary>
    public bool Float16 { get; init; }

    public DataType FloatType => Float16 ? DataType.Float16 : DataType.Float;

    /// <summary>A float32 weight as a constant of <see cref="FloatType"/> (rounded to nearest float16 when <see cref="Float16"/>).
    /// A weight already made as float16 (<see cref="SeededWeights.ElementType"/>, lazily, with the same rounding) is kept.</summary>
    public Value Weight(Tensor t, string? name = null) =>
        Const(Float16 && t.ElementType == DataType.Float ? TensorConversions.FromFloats(DataType.Float16, t.ToFloatArray(), t.Dims.ToArray()) : t, name);

    /// <summary>A float32 value cast to <see cref="FloatType"/>; itself when that is float32.</summary>
    public Value Activation(Value x) => Float16 ? Op("Cast", [x], Attribute.Int("to", (long)DataType.Float16)) : x;

    public Value Op(string opType, Value[] inputs, params Attribute[] attributes) =>
        graph.Append(new Node(opType, inputs, 1, attributes: attributes, name: graph.FreshName(opType))).Output;

    public Value Const(Tensor t, string? name = null) => graph.AddConstant(t, name);
    public Value Ints(params long[] values) => graph.AddConstant(Tensor.FromInt64s(values, values.Length));
    public Value Scalar(long value) => graph.AddConstant(Tensor.Scalar(value));
}
