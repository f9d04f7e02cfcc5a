using OnnxQuant.Ir;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Diffusion;

namespace OnnxQuant.Tests.Diffusion;

/// <summary>The DDIM loop in ONNX Runtime against a reference written out here in float64 from the paper's equations.</summary>
public sealed class DdimSamplerTests : IDisposable
{
    private readonly ScratchFolder _folder = new("ddim");

    public void Dispose() => _folder.Dispose();

    private static SamplerSpec Spec(string json) => SamplerSpec.Parse(System.Text.Json.JsonDocument.Parse(json).RootElement, "test");

    private const string TwoSteps = """
        {"type": "DDIM", "num_train_timesteps": 1000, "beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02,
         "timesteps": [500, 250], "eta": 0.0, "guidance_scale": 2.0, "null_class": 10, "clip_x0": true}
        """;

    /// <summary>
    /// x_prev = √ᾱ_prev·x̂₀ + √(1−ᾱ_prev)·ε with x̂₀ = clip((x − √(1−ᾱ_t)·ε)/√ᾱ_t) and ε re-derived from the clipped
    /// x̂₀, ε = ε_u + g(ε_c − ε_u) from the tiny denoiser's formula: two steps (500 → 250 → 0) by hand.
    /// </summary>
    [Fact]
    public void TwoGuidedStepsMatchTheReferenceWrittenFromTheEquations()
    {
        var spec = Spec(TwoSteps);
        using var runner = ModelRunner.FromFile(TinyDenoiser.Write(_folder.File("tiny.onnx")));
        var sampler = new DiffusionSampler(runner, spec);
        const int count = 3;
        var samples = sampler.Sample(count, seed: 7, batch: 2);

        for (int i = 0; i < count; i++)
        {
            var noise = new float[TinyDenoiser.Length];
            SamplerNoise.Initial(7, i, noise);
            long cls = i * 10 / count;
            for (int k = 0; k < TinyDenoiser.Length; k++)
            {
                double x = noise[k];
                int[] ts = [500, 250];
                for (int s = 0; s < ts.Length; s++)
                {
                    double a = spec.AlphasCumprod[ts[s]], ap = s + 1 < ts.Length ? spec.AlphasCumprod[ts[s + 1]] : 1.0;
                    double xf = (float)x; // the model reads float32
                    double ec = TinyDenoiser.Eps(xf, ts[s], cls), eu = TinyDenoiser.Eps(xf, ts[s], 10);
                    double e = (float)(eu + 2.0 * (ec - eu));
                    double x0 = Math.Clamp((xf - Math.Sqrt(1 - a) * e) / Math.Sqrt(a), -1, 1);
                    e = (xf - Math.Sqrt(a) * x0) / Math.Sqrt(1 - a);
                    x = (float)(Math.Sqrt(ap) * x0 + Math.Sqrt(1 - ap) * e);
                }
                // The model computes eps in float32 (0.5·x + 0.001·t + 0.01·y): a few ulps of |x| ≤ 1.
                Assert.True(Math.Abs(samples[i * TinyDenoiser.Length + k] - x) <= 1e-5, $"sample {i} value {k}: {samples[i * TinyDenoiser.Length + k]} vs {x}");
            }
        }
    }

    [Fact]
    public void OneStepWithEtaAddsSigmaTimesTheStepNoise()
    {
        float[] x = [0.3f, -0.2f], eps = [0.1f, 0.4f], z = [1.5f, -0.5f];
        double a = 0.5, ap = 0.8, eta = 1.0;
        double sigma = eta * Math.Sqrt((1 - ap) / (1 - a)) * Math.Sqrt(1 - a / ap);
        var expected = new double[2];
        for (int i = 0; i < 2; i++)
        {
            double x0 = (x[i] - Math.Sqrt(1 - a) * eps[i]) / Math.Sqrt(a);
            expected[i] = Math.Sqrt(ap) * x0 + Math.Sqrt(1 - ap - sigma * sigma) * eps[i] + sigma * z[i];
        }
        DdimStep.Apply(x, eps, a, ap, clipX0: false, eta, z);
        for (int i = 0; i < 2; i++) Assert.Equal(expected[i], x[i], 6);
        Assert.True(sigma > 0.1, "eta 1 between these alphas must add noise");
    }

    [Fact]
    public void SameSeedGivesIdenticalSamples_OtherSeedDifferent_IndependentOfBatchSizeForTheNoise()
    {
        var spec = Spec(TwoSteps);
        using var runner = ModelRunner.FromFile(TinyDenoiser.Write(_folder.File("tiny.onnx")));
        var sampler = new DiffusionSampler(runner, spec);
        var a = sampler.Sample(5, seed: 3, batch: 2);
        var b = sampler.Sample(5, seed: 3, batch: 2);
        var c = sampler.Sample(5, seed: 4, batch: 2);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        // The tiny denoiser is elementwise, so the batch size changes nothing at all here.
        Assert.Equal(a, sampler.Sample(5, seed: 3, batch: 5));
    }

    [Fact]
    public void InitialNoiseIsStandardNormal_AndPerSampleStreamsDiffer()
    {
        var values = new float[20000];
        SamplerNoise.Initial(0, 0, values);
        double mean = values.Average(v => (double)v), variance = values.Average(v => (v - mean) * (v - mean));
        Assert.InRange(mean, -0.03, 0.03);
        Assert.InRange(variance, 0.95, 1.05);
        var other = new float[20000];
        SamplerNoise.Initial(0, 1, other);
        Assert.NotEqual(values, other);
        var again = new float[20000];
        SamplerNoise.Initial(0, 0, again);
        Assert.Equal(values, again);
    }

    [Fact]
    public void SamplerThatFeedsAnInputTheModelLacks_IsRefusedNamingIt()
    {
        var spec = Spec(TwoSteps.Replace("\"clip_x0\": true", "\"clip_x0\": true, \"condition_input\": \"label\""));
        using var runner = ModelRunner.FromFile(TinyDenoiser.Write(_folder.File("tiny.onnx")));
        var e = Assert.Throws<OnnxQuantException>(() => new DiffusionSampler(runner, spec));
        Assert.Contains("'label'", e.Message);
    }
}
