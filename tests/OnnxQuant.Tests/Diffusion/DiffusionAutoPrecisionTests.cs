using System.Text.Json;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.Quantization.Diffusion;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Diffusion;

/// <summary>
/// <c>diffusion-auto-precision</c> (<c>w8a8-diffusion-auto</c>): layers left float are found by measuring the final
/// samples of the sampling loop against the float sampler's from the same noise, on a tiny denoiser whose 3 layers are
/// one of each structural role, with a 3-step sampler.
/// </summary>
public sealed class DiffusionAutoPrecisionTests : IDisposable
{
    private readonly ScratchFolder _folder = new("diffusion-auto");

    public void Dispose() => _folder.Dispose();

    private (CliResult Result, JsonElement Summary) Quantize(float outlier, string output, params string[] extra)
    {
        string model = TinyMatMulDenoiser.Write(_folder.File($"tiny{outlier}.onnx"), outlier);
        string sampler = TinyMatMulDenoiser.WriteSampler(_folder.File("tiny_sampler.json"));
        var r = Onnxquant.Run([model, _folder.File(output), "--recipe", "w8a8-diffusion-auto", "--data", "sampler:" + sampler, "--seed", "3", .. extra]);
        Assert.True(r.ExitCode == 0, r.ToString());
        using var quantized = OnnxReader.Read(_folder.File(output));
        string json = quantized.Metadata.Single(e => e.Key == DiffusionAutoPrecisionPass.MetadataKey).Value;
        return (r, JsonDocument.Parse(json).RootElement.Clone());
    }

    private List<string> FloatMatMuls(string output)
    {
        using var model = OnnxReader.Read(_folder.File(output));
        return model.Graph.Nodes.Where(n => n.OpType == "MatMul").Select(n => n.Name!).OrderBy(n => n, StringComparer.Ordinal).ToList();
    }

    [Fact]
    public void AnOutlierChannelBeforeTheOutputLayer_MakesItTheLayerLeftFloat_AndOnlyIt()
    {
        // Column 0 of the block layer ×1000 and row 0 of the output layer ÷1000: the same function, but the output
        // layer's per-tensor dynamic range is set by one channel and crushes the others.
        var (_, summary) = Quantize(1000, "outlier.onnx", "--target", "psnr=45");
        Assert.True(summary.GetProperty("startBound").GetDouble() < 45, summary.ToString());
        var decision = Assert.Single(summary.GetProperty("decisions").EnumerateArray());
        Assert.Equal("out_MatMul", decision.GetProperty("node").GetString());
        Assert.Equal("output-layer", decision.GetProperty("role").GetString());
        Assert.True(summary.GetProperty("targetHolds").GetBoolean(), summary.ToString());
        Assert.True(summary.GetProperty("finalBound").GetDouble() >= 45, summary.ToString());
        // Every layer's sensitivity was measured on the all-int8 model, with its structural role; the outlier layer leads.
        var sensitivity = summary.GetProperty("sensitivity").EnumerateArray().ToList();
        Assert.Equal(3, sensitivity.Count);
        Assert.Equal("out_MatMul", sensitivity[0].GetProperty("node").GetString());
        Assert.Equal(["block", "conditioning-path", "output-layer"], sensitivity.Select(s => s.GetProperty("role").GetString()!).Order(StringComparer.Ordinal));
        // The written model keeps exactly that layer as a float MatMul.
        Assert.Equal(["out_MatMul"], FloatMatMuls("outlier.onnx"));
    }

    [Fact]
    public void ATargetTheAllInt8ModelMeets_LeavesNothingFloat_AndSaysSo_AndTheSameSeedGivesTheSameBytes()
    {
        var (_, summary) = Quantize(1, "met.onnx", "--target", "psnr=1");
        Assert.Empty(summary.GetProperty("decisions").EnumerateArray());
        Assert.Empty(summary.GetProperty("sensitivity").EnumerateArray());
        Assert.Equal("target holds", summary.GetProperty("stopped").GetString());
        Assert.Equal(1, summary.GetProperty("measurements").GetInt32());
        Assert.Empty(FloatMatMuls("met.onnx"));
        Quantize(1, "met2.onnx", "--target", "psnr=1");
        Assert.Equal(File.ReadAllBytes(_folder.File("met.onnx")), File.ReadAllBytes(_folder.File("met2.onnx")));
    }

    [Fact]
    public void WithoutSamplerData_OrWithAnotherTarget_ItFailsWithWhatToDo()
    {
        string model = TinyMatMulDenoiser.Write(_folder.File("tiny.onnx"));
        string sampler = TinyMatMulDenoiser.WriteSampler(_folder.File("tiny_sampler.json"));
        var noData = Onnxquant.Run(model, _folder.File("a.onnx"), "--recipe", "w8a8-diffusion-auto");
        Assert.Equal(2, noData.ExitCode);
        Assert.Contains("--data sampler:FILE", noData.Stderr);
        Assert.False(File.Exists(_folder.File("a.onnx")));
        var sqnr = Onnxquant.Run(model, _folder.File("b.onnx"), "--recipe", "w8a8-diffusion-auto", "--data", "sampler:" + sampler, "--target", "sqnr=30");
        Assert.Equal(2, sqnr.ExitCode);
        Assert.Contains("is not psnr=DB", sqnr.Stderr);
        Assert.False(File.Exists(_folder.File("b.onnx")));
    }

    [Fact]
    public void TheBound_IsTheMeanLessZStandardErrors()
    {
        // mean 42, s = 2, n = 3: 42 − 1.645·2/√3.
        Assert.Equal(42 - 1.645 * 2 / Math.Sqrt(3), FinalSampleTarget.LowerBound([40, 42, 44], 1.645), 12);
        Assert.Equal(42, FinalSampleTarget.LowerBound([40, 42, 44], 0), 12);
        Assert.Equal(40, FinalSampleTarget.LowerBound([40], 1.645), 12);
        Assert.True(new FinalSampleTarget(40).Holds(40));
        Assert.False(new FinalSampleTarget(40).Holds(39.99));
    }
}
