using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>How the scale and zero point of a block of weights follow from its values (codes are unsigned 0 … 2^b − 1).</summary>
public enum WeightScaleRule
{
    /// <summary>ONNX Runtime's n-bit convention: m is the weight of largest magnitude (with its sign),
    /// s = m / −2^(b−1) and z = 2^(b−1), so m maps exactly to code 0 and all 2^b codes are used.</summary>
    SignedExtreme,

    /// <summary>Symmetric over the narrow range: s = max|w| / (2^(b−1) − 1), z = 2^(b−1), codes 1 … 2^b − 1 (int8
    /// weights in [−127, 127], so that −q is always representable, as QDQ weights are).</summary>
    NarrowSymmetric,

    /// <summary>The block range widened to include 0 (zero padding stays exact): s = (max − min)/(2^b − 1),
    /// z = round(−min / s) clamped to [0, 2^b − 1].</summary>
    Asymmetric,
}

/// <summary>
/// The integer grid a weight is rounded to: <see cref="Bits"/> per code, the scale rule, scales per block of
/// <see cref="BlockSize"/> weights along each row (a row is one output channel; a block of the row length is per
/// channel) or one scale for the whole tensor (<see cref="PerTensor"/>), stored in <see cref="ScaleType"/>.
/// </summary>
public sealed record WeightGrid(int Bits, WeightScaleRule Rule, int BlockSize, bool PerTensor, DataType ScaleType)
{
    public int BlockCount(int columns) => (columns + BlockSize - 1) / BlockSize;

    /// <summary>
    /// The scale and zero point of every block of <paramref name="rows"/> ([rowCount, columns]) from its own values
    /// (the same pair in every block when <see cref="PerTensor"/>): the grid a rounder rounds to unless it is given
    /// other scales (e.g. widened so that an int32 bias fits).
    /// </summary>
    public BlockScales ScalesOf(ReadOnlySpan<float> rows, int rowCount, int columns)
    {
        int blocks = BlockCount(columns);
        var scales = new float[rowCount * blocks];
        var zeros = new int[scales.Length];
        (float, int) whole = PerTensor ? ScaleOf(rows) : default;
        for (int r = 0; r < rowCount; r++)
            for (int b = 0; b < blocks; b++)
            {
                int start = b * BlockSize, end = Math.Min(columns, start + BlockSize);
                (scales[r * blocks + b], zeros[r * blocks + b]) = PerTensor ? whole : ScaleOf(rows.Slice(r * columns + start, end - start));
            }
        return new BlockScales(scales, zeros);
    }

    private (float Scale, int ZeroPoint) ScaleOf(ReadOnlySpan<float> values)
    {
        float min = 0, max = 0, extreme = 0;
        foreach (float w in values)
        {
            min = Math.Min(min, w);
            max = Math.Max(max, w);
            if (Math.Abs(w) > Math.Abs(extreme)) extreme = w;
        }
        return ScaleFor(min, max, extreme);
    }

    public int MaxCode => (1 << Bits) - 1;

    /// <summary>The lowest code the rule uses (1 for the narrow range, else 0).</summary>
    public int MinCode => Rule == WeightScaleRule.NarrowSymmetric ? 1 : 0;

    public bool Symmetric => Rule != WeightScaleRule.Asymmetric;

    /// <summary>Scale and zero point of the values <paramref name="min"/> … <paramref name="max"/> whose value of
    /// largest magnitude is <paramref name="extreme"/> (with its sign). The scale goes through the project's one
    /// rounding rule, <see cref="QdqMath.RoundScale"/>.</summary>
    public (float Scale, int ZeroPoint) ScaleFor(float min, float max, float extreme)
    {
        int half = 1 << (Bits - 1);
        switch (Rule)
        {
            case WeightScaleRule.SignedExtreme:
                return (QdqMath.RoundScale(extreme / -(double)half, ScaleType), half);
            case WeightScaleRule.NarrowSymmetric:
                return (QdqMath.RoundScale(Math.Abs((double)extreme) / (half - 1), ScaleType), half);
            default:
                min = Math.Min(min, 0);
                max = Math.Max(max, 0);
                float scale = QdqMath.RoundScale(((double)max - min) / MaxCode, ScaleType);
                return (scale, (int)Math.Clamp(Math.Round(-min / scale, MidpointRounding.ToEven), 0, MaxCode));
        }
    }
}

/// <summary>Scales and zero points of a weight's blocks, row-major [rows, blocks] (<see cref="WeightGrid.ScalesOf"/>).</summary>
public sealed record BlockScales(float[] Scales, int[] ZeroPoints);
