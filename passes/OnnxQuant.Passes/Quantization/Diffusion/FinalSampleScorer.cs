using OnnxQuant.Ir;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Diffusion;

namespace OnnxQuant.Passes.Quantization.Diffusion;

/// <summary>
/// Scores a denoiser variant where a user sees its error: the final samples of the whole sampling loop. The float
/// denoiser is run through the sampler once from seeded noise (<see cref="DiffusionSampler"/>, as
/// <c>eval --task diffusion</c> does); each variant runs through the same loop from the same noise and gets, per
/// sample, the pixel PSNR of its final sample against the float one (<see cref="DiffusionEvaluation.PixelPsnr"/>).
/// ONNX Runtime runs with all graph optimizations on, so a dynamic-int8 variant runs ORT's fused integer kernels,
/// exactly as deployed (fake-quantized arithmetic would differ from them).
/// </summary>
public sealed class FinalSampleScorer
{
    private readonly SamplerSpec _spec;
    private readonly float[] _floatSamples;
    private readonly RunnerOptions _runner;

    public FinalSampleScorer(Model floatModel, SamplerSpec spec, int count, int seed, int batch, RunnerOptions runner)
    {
        if (count < 1) throw new OnnxQuantException($"diffusion-auto-precision: samples must be at least 1 (got {count}).");
        _spec = spec;
        Count = count;
        Seed = seed;
        Batch = batch;
        _runner = runner;
        using var floatRunner = ModelRunner.FromModel(floatModel, runner);
        var sampler = new DiffusionSampler(floatRunner, spec);
        _floatSamples = sampler.Sample(count, seed, batch, observe: (step, feeds) => FirstFeeds ??= feeds);
    }

    public int Count { get; }
    public int Seed { get; }
    public int Batch { get; }

    /// <summary>The denoiser's feeds at the first step of the first batch (for sizes of intermediate tensors).</summary>
    public IReadOnlyDictionary<string, Tensor>? FirstFeeds { get; private set; }

    /// <summary>Per-sample PSNR (dB) of <paramref name="variant"/>'s final samples against the float sampler's.</summary>
    public double[] Measure(Model variant, CancellationToken cancel)
    {
        using var runner = ModelRunner.FromModel(variant, _runner);
        var samples = new DiffusionSampler(runner, _spec).Sample(Count, Seed, Batch, cancel: cancel);
        int length = samples.Length / Count;
        return Enumerable.Range(0, Count)
            .Select(i => DiffusionEvaluation.PixelPsnr(_floatSamples.AsSpan(i * length, length), samples.AsSpan(i * length, length)))
            .ToArray();
    }
}
