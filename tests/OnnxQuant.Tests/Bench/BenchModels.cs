using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;

namespace OnnxQuant.Tests.Bench;

/// <summary>Small models for the bench tests, built in code and written to a scratch folder.</summary>
internal static class BenchModels
{
    public static string VitTiny => Path.Combine(SharedPaths.RepoRoot, "models", "vit-tiny.onnx");

    /// <summary>The <c>--shape</c> vit-tiny needs: its batch dimension is free.</summary>
    public const string VitTinyShape = "pixel_values=1,3,32,32";

    /// <summary>x: float[1,16] → MatMul by [16,w] ... → y: float[1,16]: one MatMul per width in <paramref name="widths"/> plus one back to 16.</summary>
    public static string MatMulChain(string path, int[] widths, bool externalData = false)
    {
        var graph = new Graph { Name = "matmuls" };
        var v = graph.AddInput("x", new TensorType(DataType.Float, new Shape(1, 16)));
        var random = new Random(1);
        long from = 16;
        foreach (long to in widths.Select(w => (long)w).Append(16))
        {
            var w = graph.AddConstant(Tensor.FromFloats(
                Enumerable.Range(0, (int)(from * to)).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray(), from, to));
            v = graph.Append(new Node("MatMul", [v, w])).Output;
            from = to;
        }
        v.Type = new TensorType(DataType.Float, new Shape(1, 16));
        graph.Outputs.Add(v);
        using var model = new Model(graph) { ProducerName = "onnxquant-tests" };
        model.SetOpset("", 17);
        OnnxWriter.Write(model, path, new OnnxWriteOptions { ExternalData = externalData });
        return path;
    }

    /// <summary>One input of the given name, type and shape, passed through Identity to the output.</summary>
    public static string Passthrough(string path, string inputName, DataType type, Shape shape)
    {
        var graph = new Graph { Name = "passthrough" };
        var x = graph.AddInput(inputName, new TensorType(type, shape));
        var y = graph.Append(new Node("Identity", [x])).Output;
        y.Type = new TensorType(type, shape);
        graph.Outputs.Add(y);
        using var model = new Model(graph) { ProducerName = "onnxquant-tests" };
        model.SetOpset("", 17);
        OnnxWriter.Write(model, path);
        return path;
    }
}
