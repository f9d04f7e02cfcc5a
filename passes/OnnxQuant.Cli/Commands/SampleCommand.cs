using System.CommandLine;
using System.Globalization;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Diffusion;

namespace OnnxQuant.Cli.Commands;

/// <summary>
/// <c>onnxquant sample DENOISER --sampler S --count N --seed K --out samples.npy [--batch B] [--threads T] [--provider cpu|cuda]</c>: runs
/// the sampling loop that <c>S</c> describes (<see cref="SamplerSpec"/>) with the denoiser in ONNX Runtime and writes
/// the final samples as one float32 .npy [N, …]. Sample i's noise and class depend only on K, i and N
/// (<see cref="SamplerNoise"/>), so the same arguments give byte-identical files.
/// </summary>
public static class SampleCommand
{
    public static Command Create()
    {
        var denoiser = new Argument<string>("DENOISER") { Description = "The denoiser .onnx (float or quantized) that predicts the noise ε from x, t and the condition." };
        var sampler = new Option<string>("--sampler") { HelpName = "FILE", Description = "The sampling-loop description (JSON; e.g. ../shared/models/dit_mnist_sampler.json; docs/diffusion.md).", Required = true };
        var count = new Option<int>("--count") { HelpName = "N", Description = "Samples to draw; sample i gets class ⌊i·classes/N⌋.", DefaultValueFactory = _ => 10 };
        var seed = new Option<int>("--seed") { HelpName = "K", Description = "Noise seed.", DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--out") { HelpName = "FILE", Description = "Where to write the samples (.npy, float32 [N, …sample shape]).", Required = true };
        var batch = new Option<int>("--batch") { HelpName = "B", Description = "Samples per model call (with guidance the call holds 2B rows).", DefaultValueFactory = _ => DiffusionEvaluation.DefaultBatch };
        var threads = new Option<int>("--threads") { HelpName = "N", Description = "ONNX Runtime intra-op threads (0: ONNX Runtime chooses).", DefaultValueFactory = _ => 0 };
        var provider = ProviderOption.Create();
        var command = new Command("sample", "Run a diffusion sampling loop (DDIM, classifier-free guidance) with a denoiser in ONNX Runtime and save the samples.")
        {
            denoiser, sampler, count, seed, output, batch, threads, provider,
        };
        command.SetAction(parse =>
        {
            var executionProvider = ProviderOption.Parse(parse.GetRequiredValue(provider));
            ExecutionProviders.EnsureAvailable(executionProvider);
            string model = parse.GetRequiredValue(denoiser);
            string outPath = parse.GetRequiredValue(output);
            if (!File.Exists(model)) throw new OnnxQuantException($"Denoiser {model} does not exist.");
            OutputPath.Check(outPath, "--out", model);
            var spec = SamplerSpec.Load(parse.GetRequiredValue(sampler));
            using var runner = ModelRunner.FromFile(model, new RunnerOptions { IntraOpThreads = parse.GetValue(threads), Provider = executionProvider });
            var diffusion = new DiffusionSampler(runner, spec);
            int n = parse.GetValue(count);
            var samples = diffusion.Sample(n, parse.GetValue(seed), parse.GetValue(batch));
            NpyWriter.WriteFloats(outPath, samples, [n, .. diffusion.SampleDims]);
            parse.InvocationConfiguration.Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{n} samples, {spec.Timesteps.Length} steps of DDIM (eta {spec.Eta}, guidance {spec.GuidanceScale}), noise seed {parse.GetValue(seed)}: {outPath}"));
            return ExitCodes.Success;
        });
        return command;
    }
}
