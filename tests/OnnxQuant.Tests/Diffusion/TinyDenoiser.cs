using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;

namespace OnnxQuant.Tests.Diffusion;

/// <summary>
/// A denoiser small enough to follow by hand: x float[N,1,2,2], t int64[N], y int64[N] →
/// eps = 0.5·x + 0.001·t + 0.01·y (the last two broadcast over each sample).
/// </summary>
internal static class TinyDenoiser
{
    public const int Length = 4;

    public static double Eps(double x, long t, long y) => 0.5 * x + 0.001 * t + 0.01 * y;

    private static OnnxQuant.Ir.Attribute ToFloat => OnnxQuant.Ir.Attribute.Int("to", (long)DataType.Float);

    public static string Write(string path)
    {
        var graph = new Graph { Name = "tiny_denoiser" };
        var n = Dim.Symbolic("N");
        var xShape = new Shape([n, Dim.Known(1), Dim.Known(2), Dim.Known(2)]);
        var x = graph.AddInput("x", new TensorType(DataType.Float, xShape));
        var t = graph.AddInput("t", new TensorType(DataType.Int64, new Shape([n])));
        var y = graph.AddInput("y", new TensorType(DataType.Int64, new Shape([n])));
        var half = graph.AddConstant(Tensor.FromFloats([0.5f], 1), "half");
        var kt = graph.AddConstant(Tensor.FromFloats([0.001f], 1), "kt");
        var ky = graph.AddConstant(Tensor.FromFloats([0.01f], 1), "ky");
        var shape = graph.AddConstant(Tensor.FromInt64s([-1, 1, 1, 1], 4), "shape");
        var tf = graph.Append(new Node("Cast", [t], attributes: [ToFloat], outputNames: ["tf"])).Output;
        var yf = graph.Append(new Node("Cast", [y], attributes: [ToFloat], outputNames: ["yf"])).Output;
        var a = graph.Append(new Node("Mul", [tf, kt], outputNames: ["a"])).Output;
        var b = graph.Append(new Node("Mul", [yf, ky], outputNames: ["b"])).Output;
        var ab = graph.Append(new Node("Add", [a, b], outputNames: ["ab"])).Output;
        var ab4 = graph.Append(new Node("Reshape", [ab, shape], outputNames: ["ab4"])).Output;
        var hx = graph.Append(new Node("Mul", [x, half], outputNames: ["hx"])).Output;
        var eps = graph.Append(new Node("Add", [hx, ab4], outputNames: ["eps"])).Output;
        eps.Type = new TensorType(DataType.Float, xShape);
        graph.Outputs.Add(eps);
        using var model = new Model(graph) { ProducerName = "onnxquant-tests" };
        model.SetOpset("", 17);
        OnnxWriter.Write(model, path);
        return path;
    }
}
