using OnnxQuant.Ir;

namespace OnnxQuant.DemoModels;

/// <summary>Appends single-output nodes and constants to a graph, for the demo model generators.</summary>
internal sealed class GraphOps(Graph graph)
{
    public Graph Graph => graph;

    public Value Op(string opType, Value[] inputs, params Attribute[] attributes) =>
        graph.Append(new Node(opType, inputs, 1, attributes: attributes, name: graph.FreshName(opType))).Output;

    public Value Const(Tensor t, string? name = null) => graph.AddConstant(t, name);
    public Value Ints(params long[] values) => graph.AddConstant(Tensor.FromInt64s(values, values.Length));
    public Value Scalar(long value) => graph.AddConstant(Tensor.Scalar(value));
}
