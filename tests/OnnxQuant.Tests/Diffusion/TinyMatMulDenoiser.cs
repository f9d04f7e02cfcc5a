using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;

namespace OnnxQuant.Tests.Diffusion;

/// <summary>
/// A denoiser with linear layers, small enough for sampler-driven tests that quantize: x float [N,1,2,2], t int64 [N]
/// (no class) → tokens h = Reshape(x, [N,1,4])·W1 (a block layer), + MatMul(t/1000, Wt) (conditioning path),
/// eps = Reshape(h·W2, [N,1,2,2]) (output layer). Its sampler file runs 3 DDIM steps without guidance.
/// </summary>
internal static class TinyMatMulDenoiser
{
    public const string SamplerJson = """
        {"type": "DDIM", "num_train_timesteps": 1000, "beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02,
         "num_inference_steps": 3, "eta": 0.0, "condition_input": null}
        """;

    public static string WriteSampler(string path)
    {
        File.WriteAllText(path, SamplerJson);
        return path;
    }

    private static OnnxQuant.Ir.Attribute ToFloat => OnnxQuant.Ir.Attribute.Int("to", (long)DataType.Float);

    /// <param name="outlier">Scales column 0 of W1 by this and row 0 of W2 by its inverse: the same function in exact
    /// arithmetic, but the output layer's input then holds one channel this much larger than the others.</param>
    public static Model Build(float outlier = 1)
    {
        var graph = new Graph { Name = "tiny_matmul_denoiser" };
        var n = Dim.Symbolic("N");
        var xShape = new Shape([n, Dim.Known(1), Dim.Known(2), Dim.Known(2)]);
        var x = graph.AddInput("x", new TensorType(DataType.Float, xShape));
        var t = graph.AddInput("t", new TensorType(DataType.Int64, new Shape([n])));
        var w1 = graph.AddConstant(Tensor.FromFloats(Enumerable.Range(0, 4 * 8).Select(i => MathF.Sin(i * 0.7f + 0.3f) * (i % 8 == 0 ? outlier : 1)).ToArray(), 4, 8), "w1");
        var w2 = graph.AddConstant(Tensor.FromFloats(Enumerable.Range(0, 8 * 4).Select(i => 0.2f * MathF.Cos(i * 0.45f) / (i < 4 ? outlier : 1)).ToArray(), 8, 4), "w2");
        var wt = graph.AddConstant(Tensor.FromFloats(Enumerable.Range(0, 8).Select(i => 0.1f * (i - 3.5f)).ToArray(), 1, 8), "wt");
        var perMille = graph.AddConstant(Tensor.FromFloats([0.001f], 1), "per_mille");
        var tokens = graph.AddConstant(Tensor.FromInt64s([-1, 1, 4], 3), "tokens");
        var column = graph.AddConstant(Tensor.FromInt64s([-1, 1], 2), "column");
        var row3 = graph.AddConstant(Tensor.FromInt64s([-1, 1, 8], 3), "row3");
        var image = graph.AddConstant(Tensor.FromInt64s([-1, 1, 2, 2], 4), "image");
        var xr = graph.Append(new Node("Reshape", [x, tokens], outputNames: ["xr"])).Output;
        var h = graph.Append(new Node("MatMul", [xr, w1], name: "block_MatMul", outputNames: ["h"])).Output;
        var tf = graph.Append(new Node("Cast", [t], attributes: [ToFloat], outputNames: ["tf"])).Output;
        var ts = graph.Append(new Node("Mul", [tf, perMille], outputNames: ["ts"])).Output;
        var tc = graph.Append(new Node("Reshape", [ts, column], outputNames: ["tc"])).Output;
        var c = graph.Append(new Node("MatMul", [tc, wt], name: "cond_MatMul", outputNames: ["c"])).Output;
        var c3 = graph.Append(new Node("Reshape", [c, row3], outputNames: ["c3"])).Output;
        var hc = graph.Append(new Node("Add", [h, c3], outputNames: ["hc"])).Output;
        var o = graph.Append(new Node("MatMul", [hc, w2], name: "out_MatMul", outputNames: ["o"])).Output;
        var eps = graph.Append(new Node("Reshape", [o, image], outputNames: ["eps"])).Output;
        eps.Type = new TensorType(DataType.Float, xShape);
        graph.Outputs.Add(eps);
        var model = new Model(graph) { ProducerName = "onnxquant-tests" };
        model.SetOpset("", 17);
        return model;
    }

    public static string Write(string path, float outlier = 1)
    {
        using var model = Build(outlier);
        OnnxWriter.Write(model, path);
        return path;
    }
}
