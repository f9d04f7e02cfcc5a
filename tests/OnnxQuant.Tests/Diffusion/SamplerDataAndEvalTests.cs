using System.Security.Cryptography;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Runtime.Diffusion;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Diffusion;

/// <summary>The sampler as calibration data, as a command and as an evaluation, on the shared DiT (a few samples each).</summary>
public sealed class SamplerDataAndEvalTests : IDisposable
{
    private readonly ScratchFolder _folder = new("sampler");
    private static string Dit => SharedPaths.Model("dit_mnist.onnx");
    private static string SamplerFile => SharedPaths.Model("dit_mnist_sampler.json");

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void SamplerData_FeedsEveryStepOfTheTrajectory_WithBothGuidanceHalves()
    {
        using var model = OnnxReader.Read(Dit);
        using var source = CalibrationDataSource.Open("sampler:" + SamplerFile, model, new DataSourceOptions { Count = 3, Seed = 5 });
        var batches = source.Batches().ToList();
        Assert.Equal(50, batches.Count); // 3 trajectories fit one sampler batch; one sample per step
        var spec = SamplerSpec.Load(SamplerFile);
        for (int step = 0; step < 50; step++)
        {
            var feeds = batches[step].Feeds;
            Assert.Equal([6L, 1, 28, 28], feeds["x"].Dims.ToArray());
            Assert.All(feeds["t"].AsSpan<long>().ToArray(), t => Assert.Equal(spec.Timesteps[step], t));
            // Classes ⌊i·10/3⌋ = 0, 3, 6, then the null class for the unconditional half.
            Assert.Equal([0L, 3, 6, 10, 10, 10], feeds["y"].AsSpan<long>().ToArray());
        }
        // The first step's x is the seeded noise; the last step's is not.
        var noise = new float[784];
        SamplerNoise.Initial(5, 0, noise);
        Assert.Equal(noise, batches[0].Feeds["x"].AsSpan<float>()[..784].ToArray());
        Assert.NotEqual(noise, batches[49].Feeds["x"].AsSpan<float>()[..784].ToArray());
    }

    [Fact]
    public void SamplerData_WithACountThatIsNotAMultipleOfTheBatch_GivesFeedsOfOneShape()
    {
        using var model = OnnxReader.Read(Dit);
        // 9 trajectories run as 3 batches of 3 (not 8 + 1, whose feeds would differ in shape).
        using var source = CalibrationDataSource.Open("sampler:" + SamplerFile, model, new DataSourceOptions { Count = 9, Seed = 5 });
        var batches = source.Batches().ToList();
        Assert.Equal(150, batches.Count);
        Assert.All(batches, b => Assert.Equal([6L, 1, 28, 28], b.Feeds["x"].Dims.ToArray()));
        // The third batch starts with trajectory 6, from its own noise.
        var noise = new float[784];
        SamplerNoise.Initial(5, 6, noise);
        Assert.Equal(noise, batches[100].Feeds["x"].AsSpan<float>()[..784].ToArray());
    }

    [Fact]
    public void SampleCommand_WritesTheSameBytesTwice_AndAnotherSeedDiffers()
    {
        string a = _folder.File("a.npy"), b = _folder.File("b.npy"), c = _folder.File("c.npy");
        foreach (var (path, seed) in new[] { (a, "1"), (b, "1"), (c, "2") })
        {
            var r = Onnxquant.Run("sample", Dit, "--sampler", SamplerFile, "--count", "2", "--seed", seed, "--out", path);
            Assert.True(r.ExitCode == 0, r.ToString());
        }
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(a)), SHA256.HashData(File.ReadAllBytes(b)));
        Assert.NotEqual(File.ReadAllBytes(a), File.ReadAllBytes(c));
        using var array = NpyArray.Open(a);
        Assert.Equal([2L, 1, 28, 28], array.Shape.ToArray());
        var values = array.ReadAll().AsSpan<float>().ToArray();
        Assert.All(values, v => Assert.InRange(v, -1.0001f, 1.0001f)); // x̂₀ is clipped and the last step returns it
    }

    [Fact]
    public void SampleCommand_WithAMissingSamplerFile_FailsWithOneLineAndWritesNothing()
    {
        string output = _folder.File("s.npy");
        var r = Onnxquant.Run("sample", Dit, "--sampler", _folder.File("none.json"), "--count", "2", "--out", output);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("does not exist", r.Stderr);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void DiffusionEval_OfAModelAgainstItself_IsIdentical_AndTheSeedSpreadIsNot()
    {
        var report = DiffusionEvaluation.Run(Dit, Dit, SamplerFile, new DiffusionEvalOptions
        {
            Count = 2,
            Seed = 3,
            Classifier = SharedPaths.Model("vit_mnist.onnx"),
            ClassifierMean = 0.1307,
            ClassifierStd = 0.3081,
        });
        Assert.Equal(Psnr(100), report.Quantized.MeanPsnrDb);
        Assert.Equal(1.0, report.Quantized.MeanCosine, 12);
        Assert.Equal(100.0, report.Quantized.AgreementRate);
        Assert.NotNull(report.FloatSeedSpread);
        Assert.True(report.FloatSeedSpread!.MeanPsnrDb < 30, $"other noise gave {report.FloatSeedSpread.MeanPsnrDb} dB");
        Assert.Equal(2, report.PerSample.Count);

        static double Psnr(double db) => db;
    }

    [Fact]
    public void EvalDiffusion_WithoutSamplerData_SaysWhatItNeeds()
    {
        var r = Onnxquant.Run("eval", Dit, Dit, "--task", "diffusion", "--data", "random");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--data sampler:FILE", r.Stderr);
    }
}
