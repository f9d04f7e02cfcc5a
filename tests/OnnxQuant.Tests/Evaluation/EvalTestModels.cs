using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Tests.Calibration;

namespace OnnxQuant.Tests.Evaluation;

/// <summary>Tiny models and data for the eval tests, built in code: a "quantized" model is a float model with a known error.</summary>
internal static class EvalTestModels
{
    /// <summary>x: float[N, k] → Mul by <paramref name="scale"/> ([k]) → logits: float[N, k].</summary>
    public static string Scale(string path, float[] scale)
    {
        var graph = new Graph { Name = "scale" };
        var shape = new Shape([Dim.Symbolic("N"), Dim.Known(scale.Length)]);
        var x = graph.AddInput("x", new TensorType(DataType.Float, shape));
        var w = graph.AddConstant(Tensor.FromFloats(scale, scale.Length), "w");
        var y = graph.Append(new Node("Mul", [x, w], outputNames: ["logits"])).Output;
        y.Type = new TensorType(DataType.Float, shape);
        graph.Outputs.Add(y);
        return Write(graph, path);
    }

    /// <summary>x: float[N, 3] → h = x · <paramref name="factor"/> → y = h + 1: the intermediate "h" is named in both models.</summary>
    public static string Chain(string path, float factor)
    {
        var graph = new Graph { Name = "chain" };
        var shape = new Shape([Dim.Symbolic("N"), Dim.Known(3)]);
        var x = graph.AddInput("x", new TensorType(DataType.Float, shape));
        var a = graph.AddConstant(Tensor.FromFloats([factor], 1), "a");
        var one = graph.AddConstant(Tensor.FromFloats([1f], 1), "one");
        var h = graph.Append(new Node("Mul", [x, a], outputNames: ["h"])).Output;
        var y = graph.Append(new Node("Add", [h, one], outputNames: ["y"])).Output;
        y.Type = new TensorType(DataType.Float, shape);
        graph.Outputs.Add(y);
        return Write(graph, path);
    }

    /// <summary>
    /// Six samples of four class scores and their labels. With the float model the identity and the "quantized" one
    /// halving class 0 (<see cref="QuantScale"/>), the arg-maxes are, by hand:
    /// float 0,0,1,3,0,2 and quantized 0,1,1,3,3,2 against labels 0,0,1,2,0,2:
    /// float right on samples 0,1,2,4,5 (5/6), quantized on 0,2,5 (3/6), the two agree on 0,2,3,5 (4/6).
    /// </summary>
    public static readonly float[][] Rows =
    [
        [4, 1, 1, 1],
        [3, 2, 0, 0],
        [1, 3, 0, 0],
        [0, 0, 2, 5],
        [5, 0, 0, 3],
        [0, 1, 2, 0],
    ];

    public static readonly long[] Labels = [0, 0, 1, 2, 0, 2];
    public static readonly float[] FloatScale = [1, 1, 1, 1];
    public static readonly float[] QuantScale = [0.5f, 1, 1, 1];

    /// <summary>Writes float.onnx, quant.onnx, data.npy and labels.npy for the classify case into <paramref name="folder"/>.</summary>
    public static (string Float, string Quant, string Data, string Labels) Classify(ScratchFolder folder)
    {
        string data = folder.File("data.npy"), labels = folder.File("labels.npy");
        NpyFiles.WriteFloats(data, [Rows.Length, 4], Rows.SelectMany(r => r).ToArray());
        NpyFiles.WriteInt64s(labels, [Labels.Length], Labels);
        return (Scale(folder.File("float.onnx"), FloatScale), Scale(folder.File("quant.onnx"), QuantScale), data, labels);
    }

    private static string Write(Graph graph, string path)
    {
        using var model = new Model(graph) { ProducerName = "onnxquant-tests" };
        model.SetOpset("", 17);
        OnnxWriter.Write(model, path);
        return path;
    }
}
