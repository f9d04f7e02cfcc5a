using OnnxQuant.Ir;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Equivalence;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Diffusion;

/// <summary>
/// ViDiT-Q's static channel balancing is smooth-quant calibrated on the sampling trajectory (<c>--data sampler:FILE</c>):
/// s_j = max_t max|X_j(t)|^α / max|W_j|^(1−α), the channel maximum taken over every step of every trajectory. Checked
/// against that formula from the sampler's own feeds, and exact in ONNX Runtime on the denoiser.
/// </summary>
public sealed class TrajectoryChannelBalanceTests : IDisposable
{
    private readonly ScratchFolder _folder = new("channel-balance");

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void SmoothQuantOnSamplerData_TakesEachChannelsMaximumOverTheWholeTrajectory_AndIsExactInOrt()
    {
        string sampler = TinyMatMulDenoiser.WriteSampler(_folder.File("tiny_sampler.json"));
        using var model = TinyMatMulDenoiser.Build();
        using var original = TinyMatMulDenoiser.Build();
        var settings = new CalibrationSettings { Data = "sampler:" + sampler, Source = new DataSourceOptions { Count = 3, Seed = 9 } };
        var context = new PassContext();
        context.SetAnalysis(settings);

        Assert.True(VerifiedPass.Run(new SmoothQuantPass(), model, new SmoothQuantOptions { Conv = false }, context).Modified);

        // The block layer reads xr = Reshape(x) [N,1,4]: its channels are the 4 pixels; the reference maximum is over
        // every feed the sampler records (3 steps of 3 trajectories).
        var xMax = new double[4];
        using (var source = CalibrationDataSource.Open("sampler:" + sampler, original, new DataSourceOptions { Count = 3, Seed = 9 }))
        {
            int feeds = 0;
            foreach (var batch in source.Batches())
            {
                var x = batch.Feeds["x"].AsSpan<float>();
                for (int i = 0; i < x.Length; i++) xMax[i % 4] = Math.Max(xMax[i % 4], Math.Abs(x[i]));
                feeds++;
            }
            Assert.Equal(3, feeds);
        }
        var w1 = original.Graph.Nodes.Single(n => n.Name == "block_MatMul").Inputs[1]!.Const!.AsSpan<float>().ToArray();
        var inverse = model.Graph.Nodes.Single(n => n.OpType == "Mul" && n.Inputs[0]!.Name == "xr").Inputs[1]!.Const!.AsSpan<float>().ToArray();
        for (int j = 0; j < 4; j++)
        {
            double wMax = Enumerable.Range(0, 8).Max(c => Math.Abs(w1[j * 8 + c]));
            double s = Math.Sqrt(xMax[j]) / Math.Sqrt(wMax);
            Assert.Equal(1 / s, inverse[j], 1e-5);
        }

        // Exact: the smoothed float denoiser gives the float denoiser's output (float rounding only).
        var random = new Random(2);
        var feedsIn = new Dictionary<string, Tensor>
        {
            ["x"] = Tensor.FromFloats(Enumerable.Range(0, 3 * 4).Select(_ => (float)(random.NextDouble() * 6 - 3)).ToArray(), 3, 1, 2, 2),
            ["t"] = Tensor.FromInt64s([999, 500, 0], 3),
        };
        var expected = ModelRunner.RunOnce(original, feedsIn)["eps"].AsSpan<float>().ToArray();
        var actual = ModelRunner.RunOnce(model, feedsIn)["eps"].AsSpan<float>().ToArray();
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5 * (1 + Math.Abs(expected[i])), $"{i}: {actual[i]} vs {expected[i]}");
    }
}
