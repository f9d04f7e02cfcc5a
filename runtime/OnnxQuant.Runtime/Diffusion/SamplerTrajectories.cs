using OnnxQuant.Ir;
using OnnxQuant.Runtime.DataSources;

namespace OnnxQuant.Runtime.Diffusion;

/// <summary>
/// Calibration data from the sampling loop itself (<c>--data sampler:FILE</c>; Q-Diffusion's time-step-aware
/// calibration): runs the float denoiser through the sampler from seeded noise and records the denoiser's feeds at
/// every step (or every <see cref="SamplerSpec.CalibrationEvery"/>-th), so that observed ranges cover the whole
/// trajectory, from pure noise to the final sample, instead of one timestep or random inputs. Each recorded feed is
/// one calibration sample (a whole batch: with guidance, the conditional and unconditional halves).
/// </summary>
/// <remarks>
/// <c>--count N</c> is the number of trajectories (default <see cref="DefaultTrajectories"/>), <c>--seed</c> the noise
/// seed (calibrate with one seed, evaluate with another), <c>--skip K</c> starts at noise index K; trajectories run
/// <see cref="TrajectoryBatch"/> at a time, or fewer in equal batches when the count is not a multiple of it (so every
/// feed has one shape).
/// </remarks>
public static class SamplerTrajectories
{
    public const string Prefix = "sampler:";
    public const int DefaultTrajectories = 32;
    public const int TrajectoryBatch = 8;

    public static bool IsSamplerData(string data) => data.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>Runs <paramref name="model"/> (the float denoiser) through the sampler named by <paramref name="data"/> and returns the recorded feeds.</summary>
    public static CalibrationSamples Collect(string data, Model model, DataSourceOptions options)
    {
        string path = data[Prefix.Length..];
        if (path.Length == 0) throw new OnnxQuantException("--data sampler: needs a file after the colon, e.g. --data sampler:dit_mnist_sampler.json.");
        var spec = SamplerSpec.Load(path);
        int count = options.Count ?? DefaultTrajectories;
        if (count < 1) throw new OnnxQuantException($"--count (trajectories of sampler data) must be at least 1 (got {count}).");
        if (options.Skip < 0) throw new OnnxQuantException($"--skip must be 0 or more (got {options.Skip}).");
        using var runner = ModelRunner.FromModel(model);
        var sampler = new DiffusionSampler(runner, spec);
        var feeds = new List<IReadOnlyDictionary<string, Tensor>>();
        // Every feed must have the same shape (the data source requires it): run the trajectories in equal batches,
        // the largest divisor of the count up to TrajectoryBatch (a sample's noise does not depend on the batch).
        int batch = Enumerable.Range(1, Math.Min(TrajectoryBatch, count)).Last(b => count % b == 0);
        sampler.Sample(count, options.Seed, batch, options.Skip, (step, f) =>
        {
            if (step % spec.CalibrationEvery == 0) feeds.Add(f);
        });
        return new CalibrationSamples(feeds,
            $"sampler {path} ({count} trajectories from noise seed {options.Seed}{(options.Skip > 0 ? $", from index {options.Skip}" : "")}, "
            + $"{spec.Timesteps.Length} steps{(spec.CalibrationEvery > 1 ? $", every {spec.CalibrationEvery}th observed" : "")})");
    }
}
