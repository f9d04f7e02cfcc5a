using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;

namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// Scale and zero-point arithmetic of ONNX QuantizeLinear, as ONNX Runtime's quantization tool does it
/// (ALGORITHMS.md §5): the range is widened to include 0 (so 0 is exact, which zero padding and ReLU need);
/// s = (rmax − rmin)/(qmax − qmin), z = round(qmin − rmin/s) clamped; symmetric int8 uses [−127, 127] so that
/// −q is always representable. Rounding is half to even, as QuantizeLinear rounds. Scales are rounded to the type they
/// are stored in (float or float16) before anything is quantized with them, so the model and this arithmetic agree.
/// </summary>
public static class QdqMath
{
    /// <summary>Smallest scale for float32 (as calibration floors it): a constant tensor still gets a finite, positive scale.</summary>
    public const float MinScaleFloat = QuantParams.MinScale;

    /// <summary>Smallest scale for float16: its smallest normal number, so 1/s stays finite.</summary>
    public const float MinScaleFloat16 = 6.1035156e-5f;

    /// <summary>(qmin, qmax) of <paramref name="type"/>: int8 symmetric is [−127, 127], int16 symmetric [−32767, 32767].</summary>
    public static (int Min, int Max) IntegerRange(DataType type, bool symmetric) => type switch
    {
        DataType.UInt8 => (0, 255),
        DataType.Int8 => symmetric ? (-127, 127) : (-128, 127),
        DataType.UInt16 => (0, 65535),
        DataType.Int16 => symmetric ? (-32767, 32767) : (-32768, 32767),
        _ => throw new ArgumentException($"No 8- or 16-bit integer quantization to {type.OnnxName()}.", nameof(type)),
    };

    /// <summary>
    /// Scale and zero point of an activation with range [min, max]: the calibration engine's
    /// <see cref="QuantParams.FromRange"/>, so calibration reports and the model agree; for float16 scales the scale is
    /// rounded to float16 and the zero point recomputed with it.
    /// </summary>
    public static (float Scale, int ZeroPoint) ActivationParams(float min, float max, DataType type, bool symmetric, DataType scaleType = DataType.Float) =>
        ActivationParams(min, max, new QuantTarget(type, symmetric), scaleType);

    /// <summary><see cref="ActivationParams(float, float, DataType, bool, DataType)"/> for any target: 4-bit, emulated
    /// widths (the code range of <see cref="QuantTarget.Bits"/>) and float8 (zero point 0).</summary>
    public static (float Scale, int ZeroPoint) ActivationParams(float min, float max, QuantTarget target, DataType scaleType)
    {
        var p = QuantParams.FromRange(min, max, target);
        if (scaleType != DataType.Float16) return (p.Scale, (int)p.ZeroPoint);
        float scale = RoundScale(p.Scale, scaleType);
        if (target.Symmetric || target.IsFloat8) return (scale, (int)p.ZeroPoint);
        var (qmin, qmax) = target.CodeRange;
        return (scale, (int)Math.Clamp(Math.Round(qmin - Math.Min(min, 0) / scale, MidpointRounding.ToEven), qmin, qmax));
    }

    /// <summary>
    /// The one rule by which every scale in the project (activations, int8 and n-bit weights, biases) becomes the value
    /// stored in the model: its magnitude floored at the type's minimum (an all-zero block or range still gets a finite
    /// scale whose inverse is finite; a non-finite scale becomes the minimum), its sign kept (ONNX Runtime's symmetric
    /// n-bit weights carry the extreme's sign in the scale), then rounded to float or float16.
    /// </summary>
    public static float RoundScale(double scale, DataType scaleType)
    {
        float floor = scaleType == DataType.Float16 ? MinScaleFloat16 : MinScaleFloat;
        float s = (float)Math.Max(double.IsFinite(scale) ? Math.Abs(scale) : floor, floor);
        if (scale < 0) s = -s;
        return scaleType == DataType.Float16 ? (float)(Half)s : s;
    }

    /// <summary>QuantizeLinear of one value: round_half_even(x / s) + z, saturated to [qmin, qmax] (x / s in float32, as ORT computes it).</summary>
    public static int Quantize(float x, float scale, int zeroPoint, int qmin, int qmax)
    {
        double q = Math.Round((double)(x / scale), MidpointRounding.ToEven) + zeroPoint;
        return (int)Math.Clamp(q, qmin, qmax);
    }
}
