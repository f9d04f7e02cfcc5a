using System.Text.Json;
using OnnxQuant.Ir;
using OnnxQuant.Runtime.Diffusion;

namespace OnnxQuant.Tests.Diffusion;

public sealed class SamplerSpecTests
{
    private static SamplerSpec Parse(string json) => SamplerSpec.Parse(JsonDocument.Parse(json).RootElement, "test.json");

    [Fact]
    public void SharedDitSamplerFileIsReadAsItIs()
    {
        var spec = SamplerSpec.Load(SharedPaths.Model("dit_mnist_sampler.json"));
        Assert.Equal(50, spec.Timesteps.Length);
        Assert.Equal(980, spec.Timesteps[0]);
        Assert.Equal(0, spec.Timesteps[^1]);
        Assert.Equal(1000, spec.AlphasCumprod.Length);
        Assert.Equal(2.0, spec.GuidanceScale);
        Assert.Equal(10L, spec.NullClass);
        Assert.Equal(10, spec.NumClasses);
        Assert.True(spec.ClipX0);
        Assert.True(spec.UsesGuidance);
        Assert.Equal(0.0, spec.Eta);
        // The file's labels: y[i] = i // 20 for 200 samples.
        Assert.Equal(0L, spec.ClassOf(19, 200));
        Assert.Equal(1L, spec.ClassOf(20, 200));
        Assert.Equal(9L, spec.ClassOf(199, 200));
    }

    [Fact]
    public void LinearBetaScheduleReproducesTheSharedFilesAlphasCumprod()
    {
        var shared = SamplerSpec.Load(SharedPaths.Model("dit_mnist_sampler.json"));
        var fromBetas = Parse("""{"num_train_timesteps": 1000, "beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02, "num_inference_steps": 50}""");
        for (int t = 0; t < 1000; t++)
            Assert.True(Math.Abs(fromBetas.AlphasCumprod[t] - shared.AlphasCumprod[t]) <= 1e-12 * shared.AlphasCumprod[t] + 1e-15, $"t = {t}");
        // Evenly spaced ("leading") timesteps are the shared file's list.
        Assert.Equal(shared.Timesteps, fromBetas.Timesteps);
    }

    [Theory]
    [InlineData("""{"type": "PNDM", "num_inference_steps": 10, "beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02}""", "only DDIM")]
    [InlineData("""{"num_inference_steps": 10}""", "'alphas_cumprod' or 'beta_schedule'")]
    [InlineData("""{"timesteps": [10, 20], "beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02}""", "must decrease")]
    [InlineData("""{"timesteps": [1000], "beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02}""", "outside 0")]
    [InlineData("""{"num_inference_steps": 10, "beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02, "guidance_scale": 3}""", "'null_class' is missing")]
    [InlineData("""{"num_inference_steps": 10, "alphas_cumprod": [0.5, 0.4]}""", "has 2 values")]
    [InlineData("""{"num_inference_steps": "ten", "beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02}""", "must be an integer")]
    public void BadSamplerFilesAreRefusedWithTheReason(string json, string reason)
    {
        var e = Assert.Throws<OnnxQuantException>(() => Parse(json));
        Assert.Contains(reason, e.Message);
        Assert.StartsWith("Sampler test.json:", e.Message);
    }
}
