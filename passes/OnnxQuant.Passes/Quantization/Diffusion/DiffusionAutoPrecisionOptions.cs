using System.ComponentModel;

namespace OnnxQuant.Passes.Quantization.Diffusion;

/// <summary>Options of <see cref="DiffusionAutoPrecisionPass"/>.</summary>
public sealed class DiffusionAutoPrecisionOptions
{
    [Description("psnr=DB: mean PSNR of the final samples against the float sampler's (its lower confidence bound over the held-out samples) must reach DB")]
    public string Target { get; set; } = "psnr=40";

    [Description("the sampler file (as --data sampler:FILE); empty: the one of --data sampler:FILE")]
    public string? Sampler { get; set; }

    [Description("held-out samples: noise indices 0..N-1 of the run's --seed, sampled through the whole loop by the float and each quantized denoiser")]
    public int Samples { get; set; } = 16;

    [Description("samples per denoiser call (with guidance a call holds twice as many rows)")]
    public int Batch { get; set; } = 8;

    [Description("z of the one-sided lower confidence bound mean - z*s/sqrt(n) the target is judged on (1.645: 95%; 0: the mean)")]
    public double Z { get; set; } = 1.645;

    [Description("stop the search after this many minutes with the best model so far")]
    public double MaxMinutes { get; set; } = 30;

    [Description("the least gain of the bound (dB) a layer left float must bring to be kept")]
    public double MinGain { get; set; } = 0.05;

    [Description("op types quantized (MatMul, Gemm), as insert-dynamic-qdq's; empty: both")]
    public List<string> OpTypes { get; set; } = [];

    [Description("node-name globs that stay float whatever is measured")]
    public List<string> ExcludeNodes { get; set; } = [];

    [Description("ORT intra-op threads of the measuring runs")]
    public int Threads { get; set; } = 1;
}
