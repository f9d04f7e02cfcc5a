using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Tests.Calibration;

public class RangeMethodTests
{
    // 200,000 N(0, 1) values and 10 planted outliers at ±50 (0.005 % of the data).
    private static readonly float[] Outliers = Distributions.GaussianWithOutliers(200_000, 10, 50, seed: 11);

    private static TensorStatistics Observe(float[] values, RangeOptions options)
    {
        var t = new TensorStatistics("x", options.ObserverSpec());
        foreach (var batch in Distributions.Batches(values, seed: 12)) t.Observe(batch, [batch.Length]);
        return t;
    }

    [Fact]
    public void SymmetricPercentileLandsOnTheExactQuantileOfMagnitudes_BelowThePlantedOutliers()
    {
        var options = new RangeOptions { Method = CalibrationMethod.Percentile, Percentile = 99.99, Symmetric = true };
        var t = Observe(Outliers, options);
        var range = RangeCalculator.Compute(t, options);
        double exact = Distributions.Quantile(Outliers.Select(Math.Abs), 0.9999);
        Assert.InRange(range.Max, exact - t.Histogram!.Width, exact + t.Histogram.Width);
        Assert.Equal(-range.Max, range.Min);
        // 0.01 % cut, 0.005 % are outliers: the threshold is the gaussian's 0.99995 quantile of |x| (≈ 4.06), far below 50.
        Assert.InRange(range.Max, 3.5, 5);
    }

    [Fact]
    public void AsymmetricPercentileCutsHalfTheRestOnEachSide()
    {
        var values = Distributions.Gaussian(100_000, 2, 3, seed: 13);
        var options = new RangeOptions { Method = CalibrationMethod.Percentile, Percentile = 99.9 };
        var t = Observe(values, options);
        var range = RangeCalculator.Compute(t, options);
        double w = t.Histogram!.Width;
        Assert.InRange(range.Min, Distributions.Quantile(values, 0.0005) - w, Distributions.Quantile(values, 0.0005) + w);
        Assert.InRange(range.Max, Distributions.Quantile(values, 0.9995) - w, Distributions.Quantile(values, 0.9995) + w);
    }

    [Fact]
    public void EntropyThresholdEqualsOrtsAlgorithmOnTheSameBins()
    {
        var options = new RangeOptions { Method = CalibrationMethod.Entropy };
        var t = Observe(Outliers, options);
        var range = RangeCalculator.Compute(t, options);
        // The calibrator merges bins in pairs until the symmetric view over [−m·w, m·w) has at most 2048 bins.
        double w = t.Histogram!.Width;
        while (Math.Max(Math.Ceiling(-Outliers.Min() / w), Math.Floor(Outliers.Max() / w) + 1) > 1024) w *= 2;
        var (hist, edges) = OrtEntropyReference.SymmetricHistogram(Outliers, w);
        var (lo, hi) = OrtEntropyReference.Threshold(hist, edges, 128, Outliers.Min(), Outliers.Max());
        Assert.Equal(lo, range.Min);
        Assert.Equal(hi, range.Max);
    }

    [Fact]
    public void EntropyThresholdClipsThePlantedOutliersAndKeepsTheBulk()
    {
        var options = new RangeOptions { Method = CalibrationMethod.Entropy };
        var range = RangeCalculator.Compute(Observe(Outliers, options), options);
        // The outliers sit at ±50σ; 128 quantized levels over the whole range would leave the bulk a handful of
        // levels, so the KL minimum clips them and keeps at least ±2.5σ (99 % of the mass).
        Assert.InRange(range.Max, 2.5, 10);
        Assert.InRange(range.Min, -10, -2.5);
    }

    public static TheoryData<DataType, int> MseCases => new()
    {
        { DataType.Int8, 0 },
        { DataType.Int4, 0 },
        { DataType.Int8, 1 },
        { DataType.Int4, 1 },
    };

    [Theory]
    [MemberData(nameof(MseCases))]
    public void MsePicksTheClipThatBruteForceFindsBest(DataType type, int distribution)
    {
        var values = distribution == 0 ? Outliers : Distributions.Uniform(100_000, -1, 1, seed: 14);
        var target = new QuantTarget(type, symmetric: true);
        var options = new RangeOptions { Method = CalibrationMethod.Mse, Symmetric = true, Target = target };
        var range = RangeCalculator.Compute(Observe(values, options), options);

        // Brute force over the same candidate clips, on the raw values, with a quantizer written out here.
        double absMax = values.Max(v => Math.Abs(v));
        int qmax = type == DataType.Int8 ? 127 : 7;
        double Mse(double clip)
        {
            float s = (float)(2 * clip / (2 * qmax));
            double sum = 0;
            foreach (float x in values)
            {
                double q = Math.Clamp(Math.Round((double)(x / s), MidpointRounding.ToEven), -qmax, qmax);
                sum += (x - q * s) * (x - q * s);
            }
            return sum / values.Length;
        }
        var clips = Enumerable.Range(0, 100).Select(i => absMax * (1 - i / 100.0)).ToArray();
        double best = clips.Min(Mse);
        Assert.True(Mse(range.Max) <= best * 1.02, $"clip {range.Max}: MSE {Mse(range.Max)} vs best {best}");
        if (distribution == 1) Assert.InRange(range.Max, 0.9, 1.0); // uniform: clipping only hurts
        // Outliers (10 of 200,000 at ±50): int8 steps are fine enough that clipping the outliers (45² each) costs more
        // than the bulk's rounding noise, so the best clip stays near them; int4's steps (50/7) are so coarse that
        // clipping them away wins.
        else if (type == DataType.Int8) Assert.InRange(range.Max, 30, 50);
        else Assert.InRange(range.Max, 1, 10);
    }

    [Fact]
    public void MinMaxRangeIsTheGlobalMinMax_OrTheMovingAverage()
    {
        var values = Distributions.Gaussian(10_000, 0, 1, seed: 15);
        var options = new RangeOptions { Method = CalibrationMethod.MinMax, MovingAverage = true };
        var t = Observe(values, options);
        Assert.Equal(new TensorRange(t.MinMax.MovingMin, t.MinMax.MovingMax), RangeCalculator.Compute(t, options));
        Assert.Equal(new TensorRange(values.Min(), values.Max()), RangeCalculator.Compute(t, options with { MovingAverage = false }));
        Assert.Equal(values.Max(v => Math.Abs(v)), RangeCalculator.Compute(t, options with { MovingAverage = false, Symmetric = true }).Max);
    }

    [Fact]
    public void AMethodWithoutItsHistogramSaysHowToCalibrate()
    {
        var t = Observe(Outliers, new RangeOptions());
        var e = Assert.Throws<OnnxQuantException>(() => RangeCalculator.Compute(t, new RangeOptions { Method = CalibrationMethod.Entropy }));
        Assert.Contains("'x'", e.Message);
        Assert.Contains("--method entropy", e.Message);
    }
}
