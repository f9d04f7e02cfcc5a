using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// The int32 bias of a statically quantized Conv/Gemm (what QLinearConv and QGemm read): q_b[c] = round(b[c] / s_b[c])
/// with s_b[c] = s_x·s_w[c] and zero point 0. The kernels take s_b to be s_x·s_w, so a bias that does not fit int32
/// cannot get its own scale: the weight scale of that channel is widened instead until |b[c]| / (s_x·s_w[c]) fits,
/// as ONNX Runtime's quantization tool does (<c>_adjust_weight_scale_for_int32_bias</c>, with its 1.0001 margin).
/// Without it a bias saturates at ±2³¹ silently: large biases over tiny weights, and above all a channel whose weights
/// are all zero (a BatchNorm channel with γ = 0 folded into its Conv, subnormal rows), whose weight scale is the
/// float32 floor 2⁻¹²⁶. Widening costs that channel's weight precision only, which is what the bias dwarfs anyway.
/// </summary>
public static class BiasQuantization
{
    /// <summary>Largest int32 bias code used: ±(2³¹ − 1), symmetric, as ORT's tool uses.</summary>
    public const double MaxCode = int.MaxValue;

    /// <summary>ORT's margin on the smallest bias scale that fits (float32 rounding of the scales stays inside it).</summary>
    private const double Margin = 1.0001;

    /// <summary>The int32 codes of a bias, their scales, and how many codes were clipped at ±(2³¹ − 1).</summary>
    public readonly record struct Int32Bias(int[] Codes, float[] Scales, int Saturated);

    /// <summary>
    /// The weight scales to quantize the weight with so that <paramref name="bias"/> fits int32 at scale
    /// s_x·s_w[c]: <paramref name="weightScales"/> itself when it already fits, else a copy whose too-small channels
    /// are widened (<paramref name="widened"/> of them). One weight scale (per tensor) covers every bias element.
    /// </summary>
    public static float[] WidenWeightScales(float inputScale, float[] weightScales, ReadOnlySpan<float> bias, DataType scaleType, out int widened)
    {
        widened = 0;
        bool perChannel = weightScales.Length > 1;
        float[]? result = null;
        for (int c = 0; c < weightScales.Length; c++)
        {
            double maxAbs = 0;
            if (perChannel) maxAbs = Math.Abs((double)bias[c]);
            else foreach (float b in bias) maxAbs = Math.Max(maxAbs, Math.Abs((double)b));
            if (!double.IsFinite(maxAbs) || Fits(maxAbs, BiasScale(inputScale, weightScales[c], scaleType))) continue;
            float ws = RoundUp(Margin * maxAbs / MaxCode / inputScale, scaleType);
            // Float rounding of s_w and of s_x·s_w may still leave the bias a hair too big: step up until it fits
            // (bounded: a float16 scale has a largest value, and that case is reported as saturated).
            for (int step = 0; step < 64 && float.IsFinite(ws) && !Fits(maxAbs, BiasScale(inputScale, ws, scaleType)); step++)
                ws = RoundUp(ws * Margin, scaleType);
            // No finite weight scale is wide enough (absurd ranges): keep it; the saturated codes are then reported.
            if (!float.IsFinite(ws)) continue;
            result ??= (float[])weightScales.Clone();
            result[c] = ws;
            widened++;
        }
        return result ?? weightScales;
    }

    /// <summary>The bias as int32 codes at scale s_x·s_w[c] (one scale when <paramref name="weightScales"/> has one), counting clipped codes.</summary>
    public static Int32Bias Quantize(ReadOnlySpan<float> bias, float inputScale, float[] weightScales, DataType scaleType)
    {
        bool perChannel = weightScales.Length > 1;
        var scales = weightScales.Select(ws => BiasScale(inputScale, ws, scaleType)).ToArray();
        var codes = new int[bias.Length];
        int saturated = 0;
        for (int i = 0; i < bias.Length; i++)
        {
            double q = Math.Round((double)bias[i] / scales[perChannel ? i : 0], MidpointRounding.ToEven);
            if (Math.Abs(q) > MaxCode) saturated++;
            codes[i] = (int)Math.Clamp(q, -MaxCode, MaxCode);
        }
        return new Int32Bias(codes, scales, saturated);
    }

    /// <summary>s_x·s_w (in float32, as the kernels compute it), floored and rounded to the scale type.</summary>
    public static float BiasScale(float inputScale, float weightScale, DataType scaleType) =>
        QdqMath.RoundScale((double)(inputScale * weightScale), scaleType);

    /// <summary>The scale rounded to its type, +∞ when the type cannot hold it (never the floor, which would shrink it).</summary>
    private static float RoundUp(double scale, DataType scaleType)
    {
        float s = QdqMath.RoundScale(scale, scaleType);
        return s < scale * 0.5 ? float.PositiveInfinity : s;
    }

    private static bool Fits(double maxAbs, float scale) => Math.Round(maxAbs / scale, MidpointRounding.ToEven) <= MaxCode;
}
