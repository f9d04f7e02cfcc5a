namespace OnnxQuant.Passes.Quantization.AutoPrecision;

/// <summary>
/// The calibration samples a <c>calibrate</c> step left out for an <c>auto-precision</c> step after it to measure on:
/// <see cref="Count"/> samples from <see cref="Skip"/> in the data's order (the last ones of the calibration range);
/// for sampler data (<c>sampler:FILE</c>) whole trajectories, whose every recorded denoiser call is one held-out sample.
/// Put in the context by <see cref="Calibration.CalibratePass"/>.
/// </summary>
public sealed record HeldOutSamples(int Skip, int Count);
