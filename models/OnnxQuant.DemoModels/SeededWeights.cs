using OnnxQuant.Ir;

namespace OnnxQuant.DemoModels;

/// <summary>
/// Deterministic pseudo-random weights for generated models: the same seed gives the same bytes on every machine
/// (System.Random with a seed is a fixed algorithm).
/// </summary>
public sealed class SeededWeights(int seed)
{
    private readonly Random _random = new(seed);

    /// <summary>Normally distributed values (Box–Muller) with the given mean and standard deviation.</summary>
    public Tensor Normal(double std, params long[] dims) => Normal(0, std, dims);

    public Tensor Normal(double mean, double std, params long[] dims)
    {
        long n = 1;
        foreach (long d in dims) n *= d;
        var data = new float[n];
        for (long i = 0; i < n; i += 2)
        {
            double u1 = 1.0 - _random.NextDouble();
            double u2 = _random.NextDouble();
            double r = Math.Sqrt(-2.0 * Math.Log(u1));
            data[i] = (float)(mean + std * r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < n) data[i + 1] = (float)(mean + std * r * Math.Sin(2 * Math.PI * u2));
        }
        return Tensor.FromFloats(data, dims);
    }
}
