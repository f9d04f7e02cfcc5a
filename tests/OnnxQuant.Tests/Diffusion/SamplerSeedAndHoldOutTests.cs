using System.Text.Json;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Diffusion;

/// <summary>
/// --seed reaches the sampler's noise in every command that runs it (calibration on <c>--data sampler:FILE</c>,
/// <c>eval --task diffusion</c>; <c>sample</c> in SamplerDataAndEvalTests), and auto-precision on sampler data holds
/// out whole trajectories.
/// </summary>
public sealed class SamplerSeedAndHoldOutTests : IDisposable
{
    private readonly ScratchFolder _folder = new("sampler-seed");

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void QuantizeOnSamplerData_SameSeedGivesTheSameBytes_AnotherSeedOtherRanges()
    {
        string model = TinyMatMulDenoiser.Write(_folder.File("tiny.onnx"));
        string sampler = TinyMatMulDenoiser.WriteSampler(_folder.File("tiny_sampler.json"));
        var outputs = new List<(string Model, string Params)>();
        foreach (var (name, seed) in new[] { ("a", "1"), ("b", "1"), ("c", "2") })
        {
            string output = _folder.File(name + ".onnx"), parameters = _folder.File(name + ".json");
            var r = Onnxquant.Run(model, output, "--recipe", "w8a8", "--data", "sampler:" + sampler, "--count", "2", "--seed", seed, "--save-params", parameters);
            Assert.True(r.ExitCode == 0, r.ToString());
            outputs.Add((output, parameters));
        }
        Assert.Equal(File.ReadAllBytes(outputs[0].Model), File.ReadAllBytes(outputs[1].Model));
        // The scales and zero points (not only the seed recorded in the metadata) differ: the ranges saw other noise.
        Assert.Equal(File.ReadAllText(outputs[0].Params), File.ReadAllText(outputs[1].Params));
        Assert.NotEqual(File.ReadAllText(outputs[0].Params), File.ReadAllText(outputs[2].Params));
    }

    [Fact]
    public void EvalDiffusion_SameSeedGivesTheSameScores_AnotherSeedOtherSamples()
    {
        string model = TinyMatMulDenoiser.Write(_folder.File("tiny.onnx"));
        string sampler = TinyMatMulDenoiser.WriteSampler(_folder.File("tiny_sampler.json"));
        string quantized = _folder.File("tiny.q.onnx");
        var q = Onnxquant.Run(model, quantized, "--recipe", "w8a8-diffusion");
        Assert.True(q.ExitCode == 0, q.ToString());

        double[] Psnrs(string seed)
        {
            var r = Onnxquant.Run("eval", model, quantized, "--task", "diffusion", "--data", "sampler:" + sampler, "--count", "3", "--seed", seed, "--no-spread", "--json");
            Assert.True(r.ExitCode == 0, r.ToString());
            using var json = JsonDocument.Parse(r.Stdout);
            var perSample = json.RootElement.EnumerateObject().Single(p => p.Name.Replace("_", "").Equals("persample", StringComparison.OrdinalIgnoreCase)).Value;
            return perSample.EnumerateArray()
                .Select(s => s.EnumerateObject().Single(p => p.Name.Replace("_", "").Equals("psnrdb", StringComparison.OrdinalIgnoreCase)).Value.GetDouble()).ToArray();
        }
        var first = Psnrs("11");
        Assert.Equal(3, first.Length);
        Assert.Equal(first, Psnrs("11"));
        Assert.NotEqual(first, Psnrs("12"));
    }

    [Fact]
    public void AutoPrecisionOnSamplerData_HoldsOutWholeTrajectories_AndMeetsAnSqnrTargetOnTheDenoiserOutputs()
    {
        string model = TinyMatMulDenoiser.Write(_folder.File("tiny.onnx"));
        string sampler = TinyMatMulDenoiser.WriteSampler(_folder.File("tiny_sampler.json"));
        string output = _folder.File("tiny.auto.onnx");
        // 10 trajectories: auto-precision's default hold-out of 8 leaves 2 to calibrate on (3 steps each). Counted in
        // feeds instead (10 trajectories in 2 batches of 5, 3 steps: 6 feeds), the hold-out of 8 could not be met.
        var r = Onnxquant.Run(model, output, "--recipe", "w8a8-auto", "--data", "sampler:" + sampler, "--count", "10", "--seed", "4", "--target", "sqnr=35");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("2 trajectories calibrate, the last 8 are held out", r.Stdout);
        // The 8 held-out trajectories run as one batch of 8: one held-out sample per step.
        Assert.Contains("3 held-out samples", r.Stdout);
        Assert.True(File.Exists(output));
    }

    [Fact]
    public void AutoPrecisionOnSamplerData_WithTooFewTrajectories_SaysSoInTrajectories()
    {
        string model = TinyMatMulDenoiser.Write(_folder.File("tiny.onnx"));
        string sampler = TinyMatMulDenoiser.WriteSampler(_folder.File("tiny_sampler.json"));
        string output = _folder.File("tiny.auto.onnx");
        var r = Onnxquant.Run(model, output, "--recipe", "w8a8-auto", "--data", "sampler:" + sampler, "--count", "8");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("holds out 8 of the calibration trajectories", r.Stderr);
        Assert.False(File.Exists(output));
    }
}
