using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Tests.Calibration;

public class MinMaxAndChannelTests
{
    [Fact]
    public void MinMaxCountAndMeanMagnitudeMatchTheData()
    {
        var values = Distributions.Uniform(10000, -2, 5, seed: 1);
        var m = new MinMaxStatistic();
        foreach (var batch in Distributions.Batches(values, seed: 2, maxBatch: 700)) m.Add(batch);
        Assert.Equal(values.Min(), m.Min);
        Assert.Equal(values.Max(), m.Max);
        Assert.Equal(values.Length, m.Count);
        Assert.Equal(values.Select(v => Math.Abs((double)v)).Average(), m.MeanAbs, 1e-6);
        Assert.Equal(Math.Max(-values.Min(), values.Max()), m.AbsMax);
    }

    [Fact]
    public void MovingAverageFollowsOrtsUpdateBatchByBatch()
    {
        var batches = Distributions.Batches(Distributions.Gaussian(5000, 0, 1, seed: 3), seed: 4, maxBatch: 300).ToList();
        var m = new MinMaxStatistic(movingAverage: true, averagingConstant: 0.01);
        foreach (var b in batches) m.Add(b);
        // ORT's merge_range: the first batch sets the average, then m += c·(batch − m).
        double lo = batches[0].Min(), hi = batches[0].Max();
        foreach (var b in batches.Skip(1))
        {
            lo += 0.01 * (b.Min() - lo);
            hi += 0.01 * (b.Max() - hi);
        }
        Assert.Equal(lo, m.MovingMin, 12);
        Assert.Equal(hi, m.MovingMax, 12);
        Assert.Equal(batches.Count, m.Batches);
    }

    [Fact]
    public void MergingShardsEqualsOneRun()
    {
        var values = Distributions.GaussianWithOutliers(20000, 3, 40, seed: 5);
        var one = new MinMaxStatistic();
        one.Add(values);
        var a = new MinMaxStatistic();
        var b = new MinMaxStatistic();
        a.Add(values[..1234]);
        b.Add(values[1234..]);
        a.Merge(b);
        Assert.Equal(one.Min, a.Min);
        Assert.Equal(one.Max, a.Max);
        Assert.Equal(one.Count, a.Count);
        Assert.Equal(one.SumAbs, a.SumAbs, one.SumAbs * 1e-6);
    }

    [Theory]
    [InlineData(1)]  // channels in the middle: [batch, channels, tokens]
    [InlineData(-1)] // channels last, one value per position (inner size 1)
    public void PerChannelAbsMaxAndMeanMagnitudeMatchTheData(int axis)
    {
        long[] dims = [3, 5, 7];
        var values = Distributions.Gaussian(3 * 5 * 7, 0, 1, seed: 6);
        int resolved = axis < 0 ? axis + dims.Length : axis;
        var t = new TensorStatistics("x", new ObserverSpec { ChannelAxis = axis, ChannelHistogram = HistogramKind.Absolute });
        t.Observe(values, dims);
        t.Observe(values.Select(v => v * 2).ToArray(), dims);

        var channels = t.Channels!;
        Assert.Equal(resolved, channels.Axis);
        Assert.Equal((int)dims[resolved], channels.Channels);
        for (int c = 0; c < channels.Channels; c++)
        {
            var mine = new List<double>();
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 5; j++)
                    for (int k = 0; k < 7; k++)
                        if ((resolved == 1 ? j : k) == c) mine.Add(values[(i * 5 + j) * 7 + k]);
            var both = mine.Concat(mine.Select(v => (double)(float)(v * 2))).ToList();
            Assert.Equal(both.Max(Math.Abs), channels.AbsMax()[c]);
            Assert.Equal(both.Average(Math.Abs), channels.MeanAbs()[c], 1e-6);
            Assert.Equal(both.Count, channels.Histograms![c].Total);
        }
    }

    [Fact]
    public void SecondMomentEqualsTheSumOfOuterProductsOfRows()
    {
        const int K = 6, rows = 40;
        var values = Distributions.Gaussian(rows * K, 0.3, 1, seed: 7);
        var t = new TensorStatistics("x", new ObserverSpec { SecondMoment = true });
        t.Observe(values.AsSpan(0, 16 * K), [2, 8, K]);
        t.Observe(values.AsSpan(16 * K), [24, K]);
        var s = t.SecondMoment!;
        Assert.Equal(rows, s.Rows);
        var m = s.ToMatrix();
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++)
            {
                double expected = 0;
                for (int r = 0; r < rows; r++) expected += (double)values[r * K + i] * values[r * K + j];
                Assert.Equal(expected, m[i * K + j], 1e-9);
                Assert.Equal(m[i * K + j], s[i, j]);
            }
    }

    [Fact]
    public void SecondMomentShardsSumToOneRun()
    {
        const int K = 5;
        var values = Distributions.Gaussian(100 * K, 0, 1, seed: 8);
        var one = new SecondMomentStatistic(K);
        one.Add(values);
        var a = new SecondMomentStatistic(K);
        var b = new SecondMomentStatistic(K);
        a.Add(values.AsSpan(0, 30 * K));
        b.Add(values.AsSpan(30 * K));
        a.Merge(b);
        Assert.Equal(one.Rows, a.Rows);
        for (int i = 0; i < one.Upper.Length; i++) Assert.Equal(one.Upper[i], a.Upper[i], 1e-9);
    }

    [Fact]
    public void ObservesFloat16AndDoubleTensorsByTheirValues()
    {
        var half = new TensorStatistics("h", new ObserverSpec());
        Half[] hv = [(Half)1.5, (Half)(-3.25), (Half)0.125];
        half.Observe(OnnxQuant.Ir.Tensor.FromSpan(OnnxQuant.Ir.DataType.Float16, hv.AsSpan(), [3]));
        Assert.Equal(-3.25, half.MinMax.Min);
        Assert.Equal(1.5, half.MinMax.Max);
        var dbl = new TensorStatistics("d", new ObserverSpec());
        dbl.Observe(OnnxQuant.Ir.Tensor.FromDoubles([2.5, -7.0], 2));
        Assert.Equal(-7, dbl.MinMax.Min);
        Assert.Equal(OnnxQuant.Ir.DataType.Double, dbl.ElementType);
    }
}
