namespace OnnxQuant.Runtime.Diffusion;

/// <summary>
/// Seeded standard-normal noise, one independent stream per sample so that sample i's noise does not depend on how
/// many samples are drawn or how they are batched: the initial x_T of sample i under seed s comes from
/// <c>new System.Random(s·1000003 + i)</c> (.NET's seeded generator, whose sequence is fixed for a given seed) through
/// the Box–Muller transform, as float32; the per-step noise of η &gt; 0 from a second stream per (sample, step).
/// </summary>
public static class SamplerNoise
{
    public static void Initial(int seed, int sample, Span<float> destination) =>
        Fill(new Random(unchecked(seed * 1_000_003 + sample)), destination);

    public static void Step(int seed, int sample, int step, Span<float> destination) =>
        Fill(new Random(unchecked((seed * 1_000_003 + sample) * 7919 + 104_729 * (step + 1))), destination);

    private static void Fill(Random random, Span<float> destination)
    {
        for (int i = 0; i < destination.Length; i += 2)
        {
            // 1 − U keeps the logarithm's argument in (0, 1].
            double u1 = 1 - random.NextDouble(), u2 = random.NextDouble();
            double r = Math.Sqrt(-2 * Math.Log(u1));
            destination[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < destination.Length) destination[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
        }
    }
}
