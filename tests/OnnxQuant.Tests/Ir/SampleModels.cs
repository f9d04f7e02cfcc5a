using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;

namespace OnnxQuant.Tests.Ir;

/// <summary>Small models built in code for the IR tests.</summary>
internal static class SampleModels
{
    /// <summary>z = Relu(x · w), x float [1,4], w a 4x2 constant.</summary>
    public static Model MatMulRelu()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DataType.Float, 1, 4);
        var w = b.Constant(Tensor.FromFloats([1, -2, 3, -4, 5, -6, 7, -8], 4, 2), "w");
        var y = b.Op("MatMul", x, w);
        b.Output(b.Op("Relu", y), "z");
        return b.Build();
    }

    /// <summary>
    /// r = If(c, then: Neg(a), else: Abs(a)) with a = Add(x, x) in the main graph, read by both branches directly.
    /// </summary>
    public static Model IfReadingOuterValue()
    {
        var b = new GraphBuilder();
        var c = b.Input("c", DataType.Bool);
        var x = b.Input("x", DataType.Float, 3);
        var a = b.Op("Add", x, x);
        var then = b.Subgraph("then");
        then.Output(then.Op("Neg", a), "then_out");
        var otherwise = b.Subgraph("else");
        otherwise.Output(otherwise.Op("Abs", a), "else_out");
        var r = b.Op("If", [c], attrs: [Attribute.FromGraph("then_branch", then.Graph), Attribute.FromGraph("else_branch", otherwise.Graph)]);
        b.Output(r, "r");
        return b.Build();
    }

    public static Node Node(Graph g, string opType) => g.Nodes.Single(n => n.OpType == opType);

    public static Graph Branch(Graph g, string attribute) => Node(g, "If").GetAttribute(attribute)!.AsGraph();
}
