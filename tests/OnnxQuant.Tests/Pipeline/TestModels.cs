using OnnxQuant.Ir;

namespace OnnxQuant.Tests.Pipeline;

/// <summary>Small models built in code for the pipeline tests.</summary>
internal static class TestModels
{
    /// <summary>x: float[2,3] → Relu → Identity × <paramref name="identities"/> → Neg → y.</summary>
    public static Model Chain(int identities = 2, long opset = 17)
    {
        var graph = new Graph { Name = "chain" };
        var x = graph.AddInput("x", new TensorType(DataType.Float, new Shape(2, 3)));
        var v = graph.Append(new Node("Relu", [x])).Output;
        for (int i = 0; i < identities; i++) v = graph.Append(new Node("Identity", [v])).Output;
        var y = graph.Append(new Node("Neg", [v])).Output;
        y.Type = new TensorType(DataType.Float, new Shape(2, 3));
        graph.Outputs.Add(y);
        var model = new Model(graph) { ProducerName = "onnxquant-tests" };
        model.SetOpset("", opset);
        return model;
    }

    public static int Count(Model model, string opType) => model.Graph.AllNodes().Count(n => n.OpType == opType);
}
