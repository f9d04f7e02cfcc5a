using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Tests.Calibration;
using OnnxQuant.Tests.Cli;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization;

public class QdqMethodOverrideTests
{
    private const int K = 16, Samples = 50;

    private static string Recipe(string calibrate, string overrides) => $"""
        name: t
        passes:
          - calibrate: {calibrate}
          - insert-qdq: {overrides}
        """;

    /// <summary>x · w with calibration data in [0, 1] but for one value of 100: percentile and min/max ranges differ 100-fold.</summary>
    private static (string Model, string Data) Write(ScratchFolder folder)
    {
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("x", DataType.Float, "batch", K);
        b.Output(b.Op("MatMul", x, b.Constant(Tensor.FromFloats(RandomFloats(41, K * K, -1, 1), K, K), "w")), "y", DataType.Float, "batch", K);
        using var model = b.Build();
        OnnxWriter.Write(model, folder.File("m.onnx"));
        float[] data = RandomFloats(42, Samples * K, 0, 1);
        data[7] = 100;
        NpyFiles.WriteFloats(folder.File("x.npy"), [Samples, K], data);
        return (folder.File("m.onnx"), folder.File("x.npy"));
    }

    private static float InputScale(string path)
    {
        using var model = OnnxReader.Read(path);
        var q = model.Graph.Nodes.Single(n => n.OpType == "QuantizeLinear" && n.Inputs[0]!.Name == "x");
        return q.Inputs[1]!.Const!.AsSpan<float>()[0];
    }

    [Fact]
    public void MethodOverride_RecomputesThatTensorsRange_FromTheCalibrationHistogram()
    {
        using var folder = new ScratchFolder();
        var (model, data) = Write(folder);
        File.WriteAllText(folder.File("p.yaml"), Recipe("{method: percentile, percentile: 99}", "{}"));
        File.WriteAllText(folder.File("o.yaml"), Recipe("{method: percentile, percentile: 99}", "{overrides: [{tensors: x, method: minmax}]}"));

        var percentile = Onnxquant.Run(model, folder.File("p.onnx"), "--recipe", folder.File("p.yaml"), "--data", data);
        var overridden = Onnxquant.Run(model, folder.File("o.onnx"), "--recipe", folder.File("o.yaml"), "--data", data);

        Assert.True(percentile.ExitCode == 0, percentile.ToString());
        Assert.True(overridden.ExitCode == 0, overridden.ToString());
        // min/max of the data is [0, 100]: uint8 scale 100/255.
        Assert.Equal(100f / 255f, InputScale(folder.File("o.onnx")), 1e-6f);
        Assert.True(InputScale(folder.File("p.onnx")) < 0.02f, $"percentile scale {InputScale(folder.File("p.onnx"))}");
    }

    [Fact]
    public void MethodOverride_WithoutHistograms_SaysHowToCollectThem()
    {
        using var folder = new ScratchFolder();
        var (model, data) = Write(folder);
        File.WriteAllText(folder.File("o.yaml"), Recipe("{method: minmax}", "{overrides: [{tensors: x, method: percentile}]}"));

        var result = Onnxquant.Run(model, folder.File("o.onnx"), "--recipe", folder.File("o.yaml"), "--data", data);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("histograms", result.Stderr);
        Assert.False(File.Exists(folder.File("o.onnx")));
    }
}
