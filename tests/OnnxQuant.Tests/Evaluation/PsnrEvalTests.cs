using System.Text.Json;
using OnnxQuant.Cli;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime.Evaluation;
using OnnxQuant.Tests.Calibration;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Evaluation;

/// <summary>
/// <c>eval --task psnr --then</c>: an "encoder" x·0.5 feeding a "decoder" ·2 (float: exact, PSNR capped at 100 dB) or
/// ·2 + 0.1 ("quantized": every pixel 0.1 off, PSNR = 10·log10(1/0.01) = 20 dB by hand), on 4 samples in [0.2, 0.8].
/// </summary>
public sealed class PsnrEvalTests : IDisposable
{
    private readonly ScratchFolder _folder = new("eval-psnr");

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Psnr_ClipsBothImagesToZeroOne_AndMatchesTheHandComputedValue()
    {
        // Differences after clipping: −0.1, 0, 0 (1.2 → 1), 0.25 (−0.05 → 0): MSE = (0.01 + 0.0625) / 4 = 0.018125.
        double psnr = Psnr.Of([0f, 0.5f, 1f, 0.25f], [0.1f, 0.5f, 1.2f, -0.05f]);
        Assert.Equal(10 * Math.Log10(1 / 0.018125), psnr, 1e-5);
        Assert.Equal(17.41722, psnr, 1e-4);
        Assert.Equal(Psnr.MaxDb, Psnr.Of([0.3f, 0.7f], [0.3f, 0.7f]));
    }

    [Fact]
    public void EvalThen_ChainsEncoderAndDecoder_SkipsSamples_AndReportsPsnrOfBothChains()
    {
        var (enc, dec, decQuant, data) = Write();

        var result = Onnxquant.Run("eval", enc, enc, "--then", dec, decQuant, "--task", "psnr", "--data", data, "--skip", "1",
            "--optimization", "none", "--json");

        Assert.True(result.ExitCode == ExitCodes.Success, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        Assert.Equal(3, root.GetProperty("samples").GetInt32());
        Assert.Equal(decQuant, root.GetProperty("thenQuantModel").GetString());
        var psnr = root.GetProperty("psnr");
        Assert.Equal(Psnr.MaxDb, psnr.GetProperty("floatDb").GetDouble(), 1e-9);
        Assert.Equal(20.0, psnr.GetProperty("quantDb").GetDouble(), 1e-4);
        Assert.Equal(80.0, psnr.GetProperty("dropDb").GetDouble(), 1e-4);
        // The compared output is the decoder's.
        Assert.Equal("image", root.GetProperty("outputs")[0].GetProperty("name").GetString());
    }

    [Theory]
    [InlineData("81", ExitCodes.Success)]
    [InlineData("79", ExitCodes.GateFailed)]
    public void MaxDrop_WithPsnr_IsInDecibels(string maxDrop, int expected)
    {
        var (enc, dec, decQuant, data) = Write();
        var result = Onnxquant.Run("eval", enc, enc, "--then", dec, decQuant, "--task", "psnr", "--data", data, "--optimization", "none",
            "--max-drop", maxDrop);
        Assert.True(result.ExitCode == expected, result.ToString());
        Assert.Contains("dB", result.Stdout);
    }

    private (string Enc, string Dec, string DecQuant, string Data) Write()
    {
        string data = _folder.File("x.npy");
        var random = new Random(7);
        NpyFiles.WriteFloats(data, [4, 8], Enumerable.Range(0, 32).Select(_ => 0.2f + 0.6f * (float)random.NextDouble()).ToArray());
        return (Model(_folder.File("enc.onnx"), "x", "latent", 0.5f, null),
            Model(_folder.File("dec.onnx"), "latent", "image", 2f, null),
            Model(_folder.File("dec.q.onnx"), "latent", "image", 2f, 0.1f), data);
    }

    /// <summary>input [N, 8] · <paramref name="factor"/> (+ <paramref name="offset"/>) → output [N, 8].</summary>
    private static string Model(string path, string input, string output, float factor, float? offset)
    {
        var graph = new Graph { Name = output };
        var shape = new Shape([Dim.Symbolic("N"), Dim.Known(8)]);
        var x = graph.AddInput(input, new TensorType(DataType.Float, shape));
        var f = graph.AddConstant(Tensor.FromFloats([factor], 1), "factor");
        Value y = graph.Append(new Node("Mul", [x, f], outputNames: [offset is null ? output : "scaled"])).Output;
        if (offset is float o)
            y = graph.Append(new Node("Add", [y, graph.AddConstant(Tensor.FromFloats([o], 1), "offset")], outputNames: [output])).Output;
        y.Type = new TensorType(DataType.Float, shape);
        graph.Outputs.Add(y);
        using var model = new Model(graph) { ProducerName = "onnxquant-tests" };
        model.SetOpset("", 17);
        OnnxWriter.Write(model, path);
        return path;
    }
}
