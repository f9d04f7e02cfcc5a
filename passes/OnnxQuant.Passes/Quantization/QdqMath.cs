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
    public static (float Scale, int ZeroPoint) ActivationParams(float min, float max, DataType type, bool symmetric, DataType scaleType = DataType.Float)
    {
        var p = QuantParams.FromRange(min, max, new QuantTarget(type, symmetric));
        if (scaleType != DataType.Float16) return (p.Scale, (int)p.ZeroPoint);
        float scale = RoundScale(p.Scale, scaleType);
        if (symmetric) return (scale, (int)p.ZeroPoint);
        var (qmin, qmax) = IntegerRange(type, symmetric: false);
        return (scale, (int)Math.Clamp(Math.Round(qmin - Math.Min(min, 0) / scale, MidpointRounding.ToEven), qmin, qmax));
    }

    /// <summary>The scale max|w|/127 of symmetric int8 weights, rounded to <paramref name="scaleType"/>.</summary>
    public static float SymmetricWeightScale(double maxAbs, DataType scaleType = DataType.Float) => RoundScale(maxAbs / 127, scaleType);

    /// <summary><paramref name="scale"/> floored at the type's minimum and rounded to float or float16.</summary>
    public static float RoundScale(double scale, DataType scaleType)
    {
        float floor = scaleType == DataType.Float16 ? MinScaleFloat16 : MinScaleFloat;
        float s = (float)Math.Max(double.IsFinite(scale) ? scale : floor, floor);
        return scaleType == DataType.Float16 ? (float)(Half)s : s;
    }

    /// <summary>QuantizeLinear of one value: round_half_even(x / s) + z, saturated to [qmin, qmax] (x / s in float32, as ORT computes it).</summary>
    public static int Quantize(float x, float scale, int zeroPoint, int qmin, int qmax)
    {
        double q = Math.Round((double)(x / scale), MidpointRounding.ToEven) + zeroPoint;
        return (int)Math.Clamp(q, qmin, qmax);
    }

    /// <summary>
    /// Symmetric int8 weight codes in [−127, 127] (zero point 0), one scale per index along <paramref name="axis"/> of
    /// <paramref name="dims"/> (one for the whole tensor when axis &lt; 0): s = max|w| / 127, q = round(w / s).
    /// </summary>
    public static (sbyte[] Codes, float[] Scales) SymmetricInt8(ReadOnlySpan<float> data, ReadOnlySpan<long> dims, int axis, DataType scaleType = DataType.Float)
    {
        var scales = SymmetricInt8Scales(data, dims, axis, scaleType);
        return (SymmetricInt8(data, dims, axis, scales), scales);
    }

    /// <summary>The scales max|w| / 127 of <see cref="SymmetricInt8(ReadOnlySpan{float}, ReadOnlySpan{long}, int, DataType)"/>, one per index along <paramref name="axis"/>.</summary>
    public static float[] SymmetricInt8Scales(ReadOnlySpan<float> data, ReadOnlySpan<long> dims, int axis, DataType scaleType = DataType.Float)
    {
        var (channels, inner) = Channels(dims, axis);
        var maxAbs = new double[channels];
        for (int i = 0; i < data.Length; i++)
        {
            long c = axis < 0 ? 0 : i / inner % channels;
            maxAbs[c] = Math.Max(maxAbs[c], Math.Abs(data[i]));
        }
        return maxAbs.Select(m => SymmetricWeightScale(m, scaleType)).ToArray();
    }

    /// <summary>Symmetric int8 codes round(w / s) in [−127, 127] with given <paramref name="scales"/> (widened ones
    /// included: <see cref="BiasQuantization.WidenWeightScales"/>), one per index along <paramref name="axis"/>.</summary>
    public static sbyte[] SymmetricInt8(ReadOnlySpan<float> data, ReadOnlySpan<long> dims, int axis, float[] scales)
    {
        var (channels, inner) = Channels(dims, axis);
        var codes = new sbyte[data.Length];
        for (int i = 0; i < data.Length; i++)
            codes[i] = (sbyte)Quantize(data[i], scales[axis < 0 ? 0 : i / inner % channels], 0, -127, 127);
        return codes;
    }

    private static (long Channels, long Inner) Channels(ReadOnlySpan<long> dims, int axis)
    {
        long channels = axis < 0 ? 1 : dims[axis];
        long inner = 1;
        if (axis >= 0) for (int d = axis + 1; d < dims.Length; d++) inner *= dims[d];
        return (channels, inner);
    }
}
