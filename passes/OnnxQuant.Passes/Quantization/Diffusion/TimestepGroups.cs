namespace OnnxQuant.Passes.Quantization.Diffusion;

/// <summary>
/// Equal-width groups of the training timesteps [0, T): group(t) = clamp(⌊t / w⌋, 0, G − 1) with w = ⌈T / G⌉. The
/// same integer arithmetic runs in the graph (Div of int64, then Clip), so calibration and the model agree on every t.
/// A batch is assigned by its first row's t: a sampler calls the denoiser with one timestep per call.
/// </summary>
public readonly record struct TimestepGroups(int Count, long TrainTimesteps)
{
    public long Width => (TrainTimesteps + Count - 1) / Count;

    public int Of(long t) => (int)Math.Clamp(t / Width, 0, Count - 1);
}
