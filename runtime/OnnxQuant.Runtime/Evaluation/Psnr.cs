namespace OnnxQuant.Runtime.Evaluation;

/// <summary>
/// Peak signal-to-noise ratio of a reconstructed image against its original, both clipped to [0, 1] first (what a
/// viewer shows; an autoencoder's raw output may overshoot): PSNR = 10·log10(1 / MSE) dB over all elements. Identical
/// images (MSE = 0) count as <see cref="MaxDb"/>, so a mean over images stays finite.
/// </summary>
public static class Psnr
{
    /// <summary>The PSNR given to identical images: 10·log10(1 / 1e-10).</summary>
    public const double MaxDb = 100;

    public static double Of(ReadOnlySpan<float> original, ReadOnlySpan<float> reconstructed)
    {
        if (original.Length != reconstructed.Length)
            throw new ArgumentException($"The images have {original.Length} and {reconstructed.Length} elements.", nameof(reconstructed));
        if (original.Length == 0) throw new ArgumentException("The images are empty.", nameof(original));
        double sum = 0;
        for (int i = 0; i < original.Length; i++)
        {
            double d = Clip(original[i]) - Clip(reconstructed[i]);
            sum += d * d;
        }
        double mse = sum / original.Length;
        return Math.Min(MaxDb, 10 * Math.Log10(1 / mse));
    }

    // NaN clips to 0, the darkest value: a broken output scores low instead of poisoning the mean.
    private static double Clip(float v) => v >= 1 ? 1 : v > 0 ? v : 0;
}
