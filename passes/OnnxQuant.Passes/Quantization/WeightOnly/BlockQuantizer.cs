using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization.WeightOnly;

/// <summary>
/// Round-to-nearest (half to even) block quantization of a weight laid out as rows of K weights.
/// <list type="bullet">
/// <item>Symmetric (ORT's MatMul n-bit quantizer convention): per block, m is the weight of largest magnitude (with
/// its sign) and s = m / −2^(b−1), so m maps exactly to code −2^(b−1) and all 2^b codes are usable; codes are stored
/// unsigned (+2^(b−1)), the zero point is the default 2^(b−1). The scale may be negative; (q − z)·s is still exact.</item>
/// <item>Asymmetric: the block range is widened to include 0 (zero padding must stay exact),
/// s = (max − min)/(2^b − 1), z = round(−min/s) clamped to [0, 2^b − 1].</item>
/// </list>
/// Scales are rounded to the model's float type (float or float16) before the codes are computed with them, so the
/// stored model and this arithmetic agree. An all-zero block gets scale 1 (its codes are the zero point).
/// </summary>
public static class BlockQuantizer
{
    /// <param name="weights">Row-major [rows, columns]; quantization blocks run along a row.</param>
    public static BlockQuantizedRows Quantize(ReadOnlySpan<float> weights, int rows, int columns, int bits, int blockSize,
        bool symmetric, DataType scaleType)
    {
        if (bits is < 2 or > 8) throw new ArgumentOutOfRangeException(nameof(bits), bits, "bits must be 2..8.");
        if (weights.Length != (long)rows * columns)
            throw new ArgumentException($"{weights.Length} weights are not {rows}×{columns}.", nameof(weights));
        int blocks = (columns + blockSize - 1) / blockSize;
        int qmax = (1 << bits) - 1, half = 1 << (bits - 1);
        var codes = new byte[weights.Length];
        var scales = new float[rows * blocks];
        var zeros = new int[rows * blocks];
        for (int r = 0; r < rows; r++)
        {
            for (int b = 0; b < blocks; b++)
            {
                int start = b * blockSize, end = Math.Min(columns, start + blockSize);
                var block = weights.Slice(r * columns + start, end - start);
                float scale;
                int zero;
                if (symmetric)
                {
                    float extreme = 0;
                    foreach (float w in block) if (Math.Abs(w) > Math.Abs(extreme)) extreme = w;
                    scale = RoundScale(extreme / -(double)half, scaleType);
                    zero = half;
                }
                else
                {
                    float min = 0, max = 0;
                    foreach (float w in block) { min = Math.Min(min, w); max = Math.Max(max, w); }
                    scale = RoundScale(((double)max - min) / qmax, scaleType);
                    zero = (int)Math.Clamp(Math.Round(-min / scale, MidpointRounding.ToEven), 0, qmax);
                }
                scales[r * blocks + b] = scale;
                zeros[r * blocks + b] = zero;
                for (int k = 0; k < block.Length; k++)
                    codes[r * columns + start + k] = (byte)QdqMath.Quantize(block[k], scale, zero, 0, qmax);
            }
        }
        return new BlockQuantizedRows(rows, columns, bits, blockSize, symmetric, codes, scales, zeros);
    }

    /// <summary>The scale in its stored type; 1 for an all-zero block, and never a float16 that flushes to zero.</summary>
    private static float RoundScale(double scale, DataType scaleType)
    {
        if (scale == 0 || !double.IsFinite(scale)) return 1f;
        if (scaleType != DataType.Float16) return (float)scale;
        double magnitude = Math.Max(Math.Abs(scale), QdqMath.MinScaleFloat16);
        return (float)(Half)(Math.Sign(scale) * magnitude);
    }
}
