namespace OnnxQuant.Tests.Kernels;

/// <summary>
/// The kernels' arithmetic written out in C# (the contract in runtime/kernels/src/packed_weights.h): per-token int8
/// activations q = round_half_even(a·(127/amax)), int32 dot products per block minus zero point × Σq, one fused
/// multiply-add per block in block order, then acc·a_scale + bias (fused). The scalar kernel must equal it bit for bit.
/// </summary>
internal static class PerTokenReference
{
    public static (sbyte[] Q, float Scale) QuantizeRow(ReadOnlySpan<float> row)
    {
        float amax = 0f;
        foreach (float v in row) amax = MathF.Max(amax, MathF.Abs(v));
        bool usable = amax > 0f && float.IsFinite(amax);
        float inv = usable ? 127f / amax : 0f;
        var q = new sbyte[row.Length];
        for (int i = 0; i < row.Length; i++) q[i] = (sbyte)Math.Clamp(MathF.Round(row[i] * inv, MidpointRounding.ToEven), -127f, 127f);
        return (q, usable ? amax / 127f : 0f);
    }

    /// <summary>y[rows, N] from codes(n, k), zero(n, block), scale(n, block).</summary>
    public static float[] MatMul(float[] a, int rows, int k, int n, int block, Func<int, int, int> code, Func<int, int, int> zero,
                                 Func<int, int, float> scale, float[]? bias)
    {
        int blocks = (k + block - 1) / block;
        var y = new float[rows * n];
        for (int r = 0; r < rows; r++)
        {
            var (q, sa) = QuantizeRow(a.AsSpan(r * k, k));
            for (int c = 0; c < n; c++)
            {
                float acc = 0f;
                for (int b = 0; b < blocks; b++)
                {
                    int dot = 0, sum = 0;
                    for (int i = b * block; i < Math.Min(k, (b + 1) * block); i++)
                    {
                        dot += q[i] * code(c, i);
                        sum += q[i];
                    }
                    dot -= zero(c, b) * sum;
                    acc = MathF.FusedMultiplyAdd(dot, scale(c, b), acc);
                }
                y[r * n + c] = MathF.FusedMultiplyAdd(acc, sa, bias?[c] ?? 0f);
            }
        }
        return y;
    }

    /// <summary>
    /// Float reference decomposition: y = a·W_deq + bias. Rounding a token to int8 moves each element by at most
    /// s_a/2 (s_a = amax/127), so |y − y_ref| ≤ s_a/2·Σ_k|W_deq[k, n]| plus float rounding of the sums (1e-4 relative).
    /// </summary>
    public static void AssertWithinBound(float[] a, int rows, int k, int n, Func<int, int, float> weight, float[]? bias, float[] actual)
    {
        for (int r = 0; r < rows; r++)
        {
            double amax = 0;
            for (int i = 0; i < k; i++) amax = Math.Max(amax, Math.Abs(a[r * k + i]));
            for (int c = 0; c < n; c++)
            {
                double reference = bias?[c] ?? 0, absSum = 0, magnitude = 0;
                for (int i = 0; i < k; i++)
                {
                    reference += (double)a[r * k + i] * weight(c, i);
                    absSum += Math.Abs(weight(c, i));
                    magnitude += Math.Abs((double)a[r * k + i] * weight(c, i));
                }
                double bound = amax / 127 / 2 * absSum + 1e-4 * (magnitude + Math.Abs(bias?[c] ?? 0)) + 1e-6;
                Assert.True(Math.Abs(actual[r * n + c] - reference) <= bound,
                            $"row {r} column {c}: {actual[r * n + c]} vs float {reference} (bound {bound})");
            }
        }
    }
}
