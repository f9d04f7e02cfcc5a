using System.Globalization;
using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Passes.Quantization;

namespace OnnxQuant.Passes.Equivalence;

/// <summary>
/// The quantizer <c>smooth-quant</c>'s <c>alpha: auto</c> measures its error under: the activation type and symmetry
/// of the following <c>insert-qdq</c> step, the range method (min-max or percentile) of the following <c>calibrate</c>
/// step, and the weight bits and granularity of that insert-qdq. Without such steps (the pass alone), insert-qdq's and
/// calibrate's defaults: uint8 asymmetric min-max activations, int8 per-channel weights. Entropy and MSE ranges are
/// measured as min-max (the search has no histogram), float8 and 4-bit activations as uint8; both are said in
/// <see cref="Notes"/>.
/// </summary>
internal sealed record SmoothQuantQuantizer(DataType ActivationType, bool SymmetricActivations, CalibrationMethod Method, double Percentile,
    int WeightBits, bool PerChannelWeights, string Notes)
{
    public static readonly SmoothQuantQuantizer Default = new(DataType.UInt8, false, CalibrationMethod.MinMax, 99.999, 8, true, "");

    /// <summary>The settings of the first calibrate and insert-qdq steps after the running one (see the class comment).</summary>
    public static SmoothQuantQuantizer Following(PassContext context)
    {
        var after = context.CurrentStep is { } step && context.GetAnalysis<StatisticsSchedule>() is { } schedule ? schedule.After(step) : [];
        var calibrate = after.FirstOrDefault(p => p.Pass is CalibratePass)?.Options as CalibrateOptions ?? new CalibrateOptions();
        var qdq = after.FirstOrDefault(p => p.Pass is InsertQdqPass)?.Options as InsertQdqOptions ?? new InsertQdqOptions();
        var notes = new List<string>();
        var type = qdq.ActivationType switch
        {
            QdqActivationType.UInt8 => DataType.UInt8,
            QdqActivationType.Int8 => DataType.Int8,
            QdqActivationType.Int16 => DataType.Int16,
            QdqActivationType.UInt16 => DataType.UInt16,
            _ => DataType.UInt8,
        };
        if (qdq.ActivationType is not (QdqActivationType.UInt8 or QdqActivationType.Int8 or QdqActivationType.Int16 or QdqActivationType.UInt16))
            notes.Add($"{qdq.ActivationType} activations measured as uint8");
        var method = calibrate.Method;
        if (method is CalibrationMethod.Entropy or CalibrationMethod.Mse)
        {
            notes.Add($"{method} ranges measured as min-max");
            method = CalibrationMethod.MinMax;
        }
        return new SmoothQuantQuantizer(type, qdq.SymmetricActivations || calibrate.Symmetric, method, calibrate.Percentile,
            qdq.WeightBits, qdq.WeightGranularity == QdqWeightGranularity.PerChannel, string.Join("; ", notes));
    }

    /// <summary>For logs: "uint8 asymmetric percentile 99.999 activations, int8 per-channel weights".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{ActivationType.OnnxName()} {(SymmetricActivations ? "symmetric" : "asymmetric")} " +
        $"{(Method == CalibrationMethod.Percentile ? $"percentile {Percentile}" : "min-max")} activations, int{WeightBits} " +
        $"{(PerChannelWeights ? "per-channel" : "per-tensor")} weights{(Notes.Length > 0 ? $" ({Notes})" : "")}");

    /// <summary>
    /// The activation range the calibrate step would give x/s: min-max from the calibrated per-channel extremes, or the
    /// percentile of the sampled rows' values (signed tails, or |x| when symmetric) as the calibrator's histogram does.
    /// </summary>
    public (double Lo, double Hi) Range(float[][] x, double[] xMin, double[] xMax, float[] s) => Range(Candidates(x), xMin, xMax, s);

    /// <summary>What <see cref="Range(RangeCandidates, double[], double[], float[])"/> needs of the rows, kept once for every s
    /// (<see cref="SmoothQuantPercentileCandidates"/>); nothing for min-max ranges.</summary>
    public RangeCandidates Candidates(float[][] x)
    {
        if (Method != CalibrationMethod.Percentile || x.Length == 0) return new RangeCandidates(null, null);
        if (SymmetricActivations) return new RangeCandidates(null, new SmoothQuantPercentileCandidates(x, Percentile / 100, absolute: true));
        double cut = (100 - Percentile) / 200;
        return new RangeCandidates(new SmoothQuantPercentileCandidates(x, cut, absolute: false), new SmoothQuantPercentileCandidates(x, 1 - cut, absolute: false));
    }

    /// <summary><see cref="Range(float[][], double[], double[], float[])"/> from the rows' kept candidates.</summary>
    public (double Lo, double Hi) Range(RangeCandidates candidates, double[] xMin, double[] xMax, float[] s)
    {
        if (candidates.High is { } high)
        {
            if (SymmetricActivations)
            {
                double t = high.Quantile(s);
                return (-t, t);
            }
            return (Math.Min(0, candidates.Low!.Quantile(s)), Math.Max(0, high.Quantile(s)));
        }
        int k = s.Length;
        double lo = 0, hi = 0;
        for (int j = 0; j < k; j++)
        {
            lo = Math.Min(lo, xMin[j] / s[j]);
            hi = Math.Max(hi, xMax[j] / s[j]);
        }
        if (SymmetricActivations) (lo, hi) = (-Math.Max(-lo, hi), Math.Max(-lo, hi));
        return (lo, hi);
    }

    /// <summary>The percentile candidates of one activation's rows (both null for min-max; only <c>High</c> for a symmetric range).</summary>
    internal sealed record RangeCandidates(SmoothQuantPercentileCandidates? Low, SmoothQuantPercentileCandidates? High);

    /// <summary>Reorders <paramref name="a"/> so a[k] is its k-th smallest value, the smaller left of it and the larger right (Hoare's selection, middle pivot).</summary>
    internal static float Select(float[] a, int k)
    {
        int left = 0, right = a.Length - 1;
        while (left < right)
        {
            float pivot = a[left + (right - left) / 2];
            int i = left, j = right;
            while (i <= j)
            {
                while (a[i] < pivot) i++;
                while (a[j] > pivot) j--;
                if (i <= j) (a[i], a[j], i, j) = (a[j], a[i], i + 1, j - 1);
            }
            if (k <= j) right = j;
            else if (k >= i) left = i;
            else break;
        }
        return a[k];
    }
}
