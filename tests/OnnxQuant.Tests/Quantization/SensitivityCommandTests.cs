using System.Text.Json;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Tests.Calibration;
using OnnxQuant.Tests.Cli;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization;

public class SensitivityCommandTests
{
    private const int K = 16, Samples = 24;

    /// <summary>
    /// x → MatMul "fc1" → Relu → MatMul "fc2" → MatMul "fc3". Column 0 of fc1's weight is 1000× the others, so
    /// fc2's input holds one huge channel that fc2's weight ignores (row 0 is zero): with one uint8 range for the
    /// whole tensor every other value quantizes to zero, so quantizing fc2 alone wipes out the output.
    /// </summary>
    private static void WriteModel(string path)
    {
        float[] w1 = RandomFloats(31, K * K, -1, 1);
        for (int r = 0; r < K; r++) w1[r * K] = 1000;
        float[] w2 = RandomFloats(32, K * K, -1, 1);
        for (int c = 0; c < K; c++) w2[c] = 0;
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, "batch", K);
        var h = b.Op("Relu", b.Op("MatMul", [x, b.Constant(Tensor.FromFloats(w1, K, K), "w1")], name: "fc1"));
        var g = b.Op("MatMul", [h, b.Constant(Tensor.FromFloats(w2, K, K), "w2")], name: "fc2");
        var y = b.Op("MatMul", [g, b.Constant(Tensor.FromFloats(RandomFloats(33, K * K, -1, 1), K, K), "w3")], name: "fc3");
        b.Output(y, "y", DataType.Float, "batch", K);
        using var model = b.Build();
        OnnxWriter.Write(model, path);
    }

    [Fact]
    public void RanksTheDeliberatelySensitiveNodeFirst_OnCalibrationDataOnly()
    {
        using var folder = new ScratchFolder();
        WriteModel(folder.File("m.onnx"));
        NpyFiles.WriteFloats(folder.File("calib.npy"), [Samples, K], RandomFloats(34, Samples * K, 0, 1));

        var result = Onnxquant.Run("sensitivity", folder.File("m.onnx"), "--data", folder.File("calib.npy"), "--count", "8", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var rows = json.RootElement.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(3, rows.Count);
        Assert.Equal("fc2", Assert.Single(rows[0].GetProperty("nodeNames").EnumerateArray()).GetString());
        double worst = rows[0].GetProperty("onlyThisSqnrDb").GetDouble(), next = rows[1].GetProperty("onlyThisSqnrDb").GetDouble();
        Assert.True(worst < 10 && next > worst + 20, $"fc2 alone {worst:F1} dB, the next group {next:F1} dB.");
        // Leaving fc2 in float recovers most of what full quantization loses.
        Assert.True(rows[0].GetProperty("allButThisSqnrDb").GetDouble() > json.RootElement.GetProperty("allQuantizedSqnrDb").GetDouble() + 20);
    }

    [Fact]
    public void WithoutInsertQdqInTheRecipe_SaysToUseAStaticRecipe()
    {
        using var folder = new ScratchFolder();
        WriteModel(folder.File("m.onnx"));
        var result = Onnxquant.Run("sensitivity", folder.File("m.onnx"), "--data", "random", "--recipe", "w8a8-dynamic");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no insert-qdq pass", result.Stderr);
    }
}
