namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// Seeded random draws for rotations. <see cref="Random(int)"/> with a seed uses .NET's fixed legacy generator, and
/// the normal draws use Marsaglia's polar method (uniforms, a logarithm and a square root, no trigonometry), so the
/// same seed gives the same numbers on every run.
/// </summary>
public static class SeededRandom
{
    /// <summary><paramref name="count"/> independent standard normal draws.</summary>
    public static double[] Gaussian(int count, int seed)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "a count cannot be negative");
        var random = new Random(seed);
        var values = new double[count];
        for (int k = 0; k < count; k += 2)
        {
            double u, v, s;
            do
            {
                u = 2 * random.NextDouble() - 1;
                v = 2 * random.NextDouble() - 1;
                s = u * u + v * v;
            } while (s >= 1 || s == 0);
            double factor = Math.Sqrt(-2 * Math.Log(s) / s);
            values[k] = u * factor;
            if (k + 1 < count) values[k + 1] = v * factor;
        }
        return values;
    }

    /// <summary><paramref name="count"/> independent fair ±1 signs.</summary>
    public static sbyte[] Signs(int count, int seed)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "a count cannot be negative");
        var random = new Random(seed);
        var signs = new sbyte[count];
        for (int k = 0; k < count; k++) signs[k] = random.Next(2) == 0 ? (sbyte)-1 : (sbyte)1;
        return signs;
    }

    /// <summary>diag(±1) of order <paramref name="order"/> with the signs of <see cref="Signs"/>.</summary>
    public static DoubleMatrix SignDiagonal(int order, int seed)
    {
        var signs = Signs(order, seed);
        return DoubleMatrix.Diagonal(Array.ConvertAll(signs, s => (double)s));
    }
}
