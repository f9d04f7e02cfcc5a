using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Tests.Calibration;

public class HistogramTests
{
    [Fact]
    public void CountsEveryValueInTheBinOfItsFloorOverTheFinalWidth_WhateverTheBatching()
    {
        // A narrow first batch, then wider ones: the grid re-bins as the range grows.
        var values = Distributions.Uniform(2000, -0.01, 0.01, seed: 1)
            .Concat(Distributions.Gaussian(20000, 3, 5, seed: 2))
            .Concat(Distributions.Uniform(3000, -100, 40, seed: 3)).ToArray();
        var h = new Histogram();
        foreach (var batch in Distributions.Batches(values, seed: 4)) h.Add(batch);

        // Independent binning at the histogram's final grid.
        double w = h.Width;
        var expected = new Dictionary<long, long>();
        foreach (float v in values)
        {
            long g = (long)Math.Floor(v / w);
            expected[g] = expected.GetValueOrDefault(g) + 1;
        }
        for (int j = 0; j < h.Capacity; j++)
            Assert.Equal(expected.GetValueOrDefault(h.Offset + j), h.Counts[j]);
        Assert.Equal(values.Length, h.Total);
        Assert.Equal(values.Min(), h.Min);
        Assert.Equal(values.Max(), h.Max);
        // The width is a power of two and the range spans at least the resolution in bins.
        Assert.Equal(Math.Pow(2, Math.Round(Math.Log2(w))), w);
        Assert.True((h.Max - h.Min) / w > h.Resolution - 1, $"only {(h.Max - h.Min) / w} bins across the range");
    }

    [Fact]
    public void MergingShardsEqualsOneRun_ExactlyAndInAnyOrder()
    {
        var values = Distributions.GaussianWithOutliers(30000, 5, 80, seed: 5);
        var one = new Histogram();
        foreach (var batch in Distributions.Batches(values, seed: 6)) one.Add(batch);

        var a = new Histogram();
        var b = new Histogram();
        foreach (var batch in Distributions.Batches(values[..7000], seed: 7)) a.Add(batch);
        foreach (var batch in Distributions.Batches(values[7000..], seed: 8)) b.Add(batch);
        var ab = a.Clone();
        ab.Merge(b);
        var ba = b.Clone();
        ba.Merge(a);

        foreach (var merged in new[] { ab, ba })
        {
            Assert.Equal(one.WidthExponent, merged.WidthExponent);
            Assert.Equal(one.Offset, merged.Offset);
            Assert.Equal(one.Counts.ToArray(), merged.Counts.ToArray());
            Assert.Equal(one.Min, merged.Min);
            Assert.Equal(one.Max, merged.Max);
            Assert.Equal(one.Total, merged.Total);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FastBinningEqualsAReferenceBinning_WithValuesOnBinEdgesAndNonFiniteValues(bool absolute)
    {
        // The first batch spans [-1, 1], so the grid starts at width 2^-10 and then doubles as later batches widen it;
        // many values lie exactly on edges of 2^-11 and 2^-10 (and at -0 and tiny negatives, which round to -0 when
        // scaled), and batch lengths cross the binning's blocks of 8 and 256 values.
        var random = new Random(11);
        float Edge(int k, int exponent) => (float)Math.ScaleB(k, exponent);
        var batches = new List<float[]>();
        foreach (int length in new[] { 1000, 7, 257, 4099, 256, 8, 3001 })
        {
            var batch = new float[length];
            for (int i = 0; i < length; i++)
                batch[i] = random.Next(6) switch
                {
                    0 => Edge(random.Next(-2048, 2049), -11),
                    1 => Edge(random.Next(-4096, 4097), -10),
                    2 => (float)(random.NextDouble() * 2 - 1) * (batches.Count + 1),
                    3 => random.Next(2) == 0 ? -0f : -float.Epsilon * random.Next(1, 100),
                    4 => Edge(random.Next(-8, 9), -1),
                    _ => (float)random.NextDouble(),
                };
            if (batches.Count == 0) { batch[0] = -1; batch[1] = 1; }
            if (batches.Count is 0 or 3)
                for (int i = 3; i < length; i += 37) batch[i] = (i / 97 % 3) switch { 0 => float.NaN, 1 => float.PositiveInfinity, _ => float.NegativeInfinity };
            batches.Add(batch);
        }
        var h = new Histogram(absolute: absolute);
        foreach (var batch in batches) h.Add(batch);

        // Reference: a plain loop, division in double at the final width, NaN and ±∞ only counted.
        var finite = batches.SelectMany(b => b).Where(float.IsFinite).Select(v => absolute ? Math.Abs(v) : v).ToList();
        long nonFinite = batches.Sum(b => b.Count(v => !float.IsFinite(v)));
        var expected = new Dictionary<long, long>();
        foreach (float v in finite)
        {
            long g = (long)Math.Floor(v / h.Width);
            expected[g] = expected.GetValueOrDefault(g) + 1;
        }
        Assert.True(nonFinite > 50 && h.WidthExponent > -10, "the data must hold non-finite values and widen the grid");
        for (int j = 0; j < h.Capacity; j++)
            Assert.True(expected.GetValueOrDefault(h.Offset + j) == h.Counts[j], $"bin {h.Offset + j}: {h.Counts[j]}, expected {expected.GetValueOrDefault(h.Offset + j)}");
        Assert.Equal(finite.Count, h.Total);
        Assert.Equal(nonFinite, h.NonFinite);
        Assert.Equal(finite.Min(), h.Min);
        Assert.Equal(finite.Max(), h.Max);
    }

    [Fact]
    public void CountsNonFiniteValuesApartAndBinsTheRest()
    {
        var h = new Histogram(absolute: true);
        h.Add([1f, float.NaN, -3f, float.PositiveInfinity, 2f, float.NegativeInfinity]);
        Assert.Equal(3, h.NonFinite);
        Assert.Equal(3, h.Total);
        Assert.Equal(1, h.Min);
        Assert.Equal(3, h.Max);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.9)]
    [InlineData(0.999)]
    [InlineData(0.99999)]
    public void QuantileIsWithinOneBinOfTheExactOrderStatistic(double q)
    {
        var values = Distributions.Gaussian(100000, 1, 2, seed: 9);
        var h = new Histogram();
        h.Add(values);
        double exact = Distributions.Quantile(values, q);
        Assert.InRange(h.Quantile(q), exact - h.Width, exact + h.Width);
    }

    [Fact]
    public void FoldingASignedHistogramGivesMagnitudeQuantilesWithinOneBin()
    {
        var values = Distributions.Gaussian(50000, -0.5, 1, seed: 10);
        var signed = new Histogram();
        signed.Add(values);
        var folded = signed.ToAbsolute();
        double exact = Distributions.Quantile(values.Select(Math.Abs), 0.999);
        Assert.InRange(folded.Quantile(0.999), exact - signed.Width, exact + signed.Width);
        Assert.Equal(values.Max(v => Math.Abs(v)), folded.Max);
        Assert.Equal(signed.Total, folded.Total);
    }

    [Fact]
    public void AConstantTensorKeepsAFiniteGridAndLaterGrowsFromIt()
    {
        var h = new Histogram();
        h.Add(new float[100]);
        Assert.Equal(100, h.Counts.ToArray().Sum());
        h.Add([1e30f, -1e30f]);
        Assert.Equal(102, h.Total);
        Assert.Equal(-1e30f, h.Min);
        double w = h.Width;
        Assert.Equal(1, h.Counts[(int)((long)Math.Floor(-1e30f / w) - h.Offset)]);
        Assert.Equal(100, h.Counts[(int)(0 - h.Offset)]);
    }

    [Fact]
    public void RefusesToMergeHistogramsOfAnotherKind()
    {
        var a = new Histogram(absolute: true);
        var b = new Histogram(absolute: false);
        a.Add([1f]);
        b.Add([1f]);
        Assert.Throws<ArgumentException>(() => a.Merge(b));
    }
}
