using OnnxQuant.Ir;
using OnnxQuant.Ir.Numerics;

namespace OnnxQuant.Passes.Calibration;

/// <summary>
/// Scale and zero point of an affine quantizer, q = saturate(round(x/s) + z), x̂ = (q − z)·s, with ONNX's rounding
/// (half to even) and saturation to the target's code range (ALGORITHMS.md §5, ORT's <c>compute_scale_zp</c>).
/// </summary>
/// <remarks>
/// From a range [rmin, rmax]: the range is first widened to include 0 (so 0 is exactly representable: zero padding
/// and ReLU outputs stay exact); symmetric targets use ±max(|rmin|, |rmax|). Then s = (rmax − rmin)/(qmax − qmin),
/// rounded to float32, and z = round(qmin − rmin/s) clamped to [qmin, qmax]; symmetric signed targets have z = 0 and
/// symmetric unsigned ones z = (qmin + qmax + 1)/2 (uint8: 128), as that formula gives. A scale that would fall below
/// <see cref="MinScale"/> (the smallest normal float32, 2^−126) — a tensor that was 0 on every calibration sample —
/// becomes <see cref="DegenerateScale"/> (1.0), as ORT's <c>compute_scale_zp</c> does: s = 0 would give 1/s = ∞, and
/// a floor of 2^−126 would saturate every non-zero value seen at run time (see <see cref="IsDegenerate"/>).
/// 8-bit float targets: s = max|x| / (largest finite value), z = 0.
/// </remarks>
public readonly record struct QuantParams(float Scale, long ZeroPoint, QuantTarget Target)
{
    /// <summary>The floor of every scale: float32's smallest normal number.</summary>
    public const float MinScale = 1.17549435e-38f;

    /// <summary>The scale of a range narrower than <see cref="MinScale"/> per code (in practice {0}): 1.0, as ORT's tool uses.</summary>
    public const float DegenerateScale = 1f;

    /// <summary>True when [min, max] (widened to include 0) is too narrow for a normal scale: it gets <see cref="DegenerateScale"/>.</summary>
    public static bool IsDegenerate(double min, double max, QuantTarget target)
    {
        if (double.IsNaN(min) || double.IsNaN(max) || min > max) return false;
        double rmin = Math.Min(min, 0), rmax = Math.Max(max, 0);
        double width = target.Symmetric || target.IsFloat8 ? 2 * Math.Max(-rmin, rmax) : rmax - rmin;
        double codes = target.IsFloat8 ? 2 * QuantTarget.Float8Max(target.Type) : target.CodeRange.Max - target.CodeRange.Min;
        return (float)(width / codes) < MinScale;
    }

    public static QuantParams FromRange(double min, double max, QuantTarget target)
    {
        if (double.IsNaN(min) || double.IsNaN(max) || min > max)
            throw new ArgumentException($"[{min}, {max}] is not a range.");
        double rmin = Math.Min(min, 0), rmax = Math.Max(max, 0);
        if (target.IsFloat8) return FromAbsMax(Math.Max(-rmin, rmax), target);
        var (qmin, qmax) = target.CodeRange;
        if (target.Symmetric)
        {
            double absMax = Math.Max(-rmin, rmax);
            rmin = -absMax;
            rmax = absMax;
        }
        float scale = FloorScale((rmax - rmin) / (qmax - qmin));
        long zero;
        if (target.Symmetric) zero = target.Type.IsSigned() ? 0 : (qmin + qmax + 1) / 2;
        else zero = (long)Math.Clamp(Math.Round(qmin - rmin / scale, MidpointRounding.ToEven), qmin, qmax);
        return new QuantParams(scale, zero, target);
    }

    /// <summary>Symmetric parameters from max|x| (integer targets: the range ±absMax; float8: absMax / largest finite).</summary>
    public static QuantParams FromAbsMax(double absMax, QuantTarget target)
    {
        if (double.IsNaN(absMax) || absMax < 0) throw new ArgumentException($"{absMax} is not a magnitude.");
        if (!target.IsFloat8) return FromRange(-absMax, absMax, target);
        return new QuantParams(FloorScale(absMax / QuantTarget.Float8Max(target.Type)), 0, target);
    }

    /// <summary>
    /// ORT's "distribution" calibration for float8: the scale that maps the data's standard deviation to the standard
    /// deviation of all finite values of the format (each code counted once).
    /// </summary>
    public static QuantParams Float8FromStd(double std, QuantTarget target)
    {
        if (!target.IsFloat8) throw new ArgumentException($"{target} is not an 8-bit float target.");
        return new QuantParams(FloorScale(std / Float8Std(target.Type)), 0, target);
    }

    /// <summary>Standard deviation of all finite values of an 8-bit float format (every code once).</summary>
    public static double Float8Std(DataType type)
    {
        double sum = 0, sumSquares = 0;
        int n = 0;
        for (int code = 0; code < 256; code++)
        {
            float v = Float8.Decode((byte)code, type);
            if (!float.IsFinite(v)) continue;
            sum += v;
            sumSquares += (double)v * v;
            n++;
        }
        double mean = sum / n;
        return Math.Sqrt(sumSquares / n - mean * mean);
    }

    public long CodeMin => Target.CodeRange.Min;
    public long CodeMax => Target.CodeRange.Max;

    /// <summary>Smallest and largest dequantized value.</summary>
    public double RepresentableMin => Target.IsFloat8 ? -QuantTarget.Float8Max(Target.Type) * Scale : (CodeMin - ZeroPoint) * (double)Scale;
    public double RepresentableMax => Target.IsFloat8 ? QuantTarget.Float8Max(Target.Type) * Scale : (CodeMax - ZeroPoint) * (double)Scale;

    /// <summary>ONNX QuantizeLinear for an integer target: saturate(round_half_even(x / s) + z), x/s in float32.</summary>
    public long Quantize(double x)
    {
        if (Target.IsFloat8) throw new InvalidOperationException("Use FakeQuantize for 8-bit float targets (the code is a float8 bit pattern).");
        float scaled = (float)x / Scale;
        if (float.IsNaN(scaled)) return ZeroPoint;
        double q = Math.Round((double)scaled, MidpointRounding.ToEven) + ZeroPoint;
        return (long)Math.Clamp(q, CodeMin, CodeMax);
    }

    public double Dequantize(long code) => (code - ZeroPoint) * (double)Scale;

    /// <summary>x quantized and dequantized (float8: x/s rounded to the format, saturating, times s).</summary>
    public double FakeQuantize(double x)
    {
        if (!Target.IsFloat8) return Dequantize(Quantize(x));
        byte code = Float8.Encode((float)x / Scale, Target.Type, saturate: true);
        return Float8.Decode(code, Target.Type) * (double)Scale;
    }

    private static float FloorScale(double scale)
    {
        float s = (float)scale;
        return float.IsFinite(s) ? s < MinScale ? DegenerateScale : s : throw new ArgumentException($"The range gives scale {scale}, which float32 cannot hold.");
    }

    public override string ToString() => $"scale {Scale:R}, zero point {ZeroPoint} ({Target})";
}
