namespace OnnxQuant.Runtime.Diffusion;

/// <summary>
/// One DDIM update (Song et al. 2021, "Denoising Diffusion Implicit Models", eq. 12), element by element:
/// x̂₀ = (x − √(1−ᾱ_t)·ε)/√ᾱ_t, optionally clipped to [−1, 1] with ε re-derived from the clipped x̂₀
/// (ε = (x − √ᾱ_t·x̂₀)/√(1−ᾱ_t)), then x_prev = √ᾱ_prev·x̂₀ + √(1−ᾱ_prev−σ²)·ε + σ·z with
/// σ = η·√((1−ᾱ_prev)/(1−ᾱ_t))·√(1−ᾱ_t/ᾱ_prev). Coefficients and the arithmetic are float64; x is stored as float32.
/// </summary>
public static class DdimStep
{
    /// <summary>σ_t for <paramref name="eta"/> (0 for deterministic DDIM).</summary>
    public static double Sigma(double alphaT, double alphaPrev, double eta) =>
        eta == 0 ? 0 : eta * Math.Sqrt((1 - alphaPrev) / (1 - alphaT)) * Math.Sqrt(1 - alphaT / alphaPrev);

    /// <summary>Replaces <paramref name="x"/> by x_prev; <paramref name="noise"/> (z) is read only when σ &gt; 0.</summary>
    public static void Apply(Span<float> x, ReadOnlySpan<float> eps, double alphaT, double alphaPrev, bool clipX0, double eta, ReadOnlySpan<float> noise)
    {
        if (eps.Length != x.Length) throw new ArgumentException($"x has {x.Length} values but eps {eps.Length}.", nameof(eps));
        double sigma = Sigma(alphaT, alphaPrev, eta);
        if (sigma > 0 && noise.Length != x.Length) throw new ArgumentException($"x has {x.Length} values but the noise {noise.Length}.", nameof(noise));
        double sqrtA = Math.Sqrt(alphaT), sqrt1mA = Math.Sqrt(1 - alphaT);
        double sqrtPrev = Math.Sqrt(alphaPrev), dirCoef = Math.Sqrt(Math.Max(0, 1 - alphaPrev - sigma * sigma));
        for (int i = 0; i < x.Length; i++)
        {
            double xi = x[i], e = eps[i];
            double x0 = (xi - sqrt1mA * e) / sqrtA;
            if (clipX0)
            {
                x0 = Math.Clamp(x0, -1, 1);
                e = (xi - sqrtA * x0) / sqrt1mA;
            }
            double next = sqrtPrev * x0 + dirCoef * e;
            if (sigma > 0) next += sigma * noise[i];
            x[i] = (float)next;
        }
    }
}
