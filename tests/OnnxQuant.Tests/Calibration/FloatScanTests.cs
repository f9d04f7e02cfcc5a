using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Tests.Calibration;

public class FloatScanTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(1029)]
    [InlineData(9000)]
    public void OneScan_GivesTheSignedRangeAndTheRangeOfMagnitudes_AsSimpleLoopsDo(int length)
    {
        var random = new Random(length);
        // Values of both signs around an offset, so that the smallest magnitude is not zero and not the signed minimum.
        var values = Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 6 - 2.5)).ToArray();

        bool finite = FloatScan.Scan(values, out float min, out float max, out float absMin, out float absMax, out double sumAbs);

        Assert.True(finite);
        Assert.Equal(values.Min(), min);
        Assert.Equal(values.Max(), max);
        Assert.Equal(values.Min(MathF.Abs), absMin);
        Assert.Equal(values.Max(MathF.Abs), absMax);
        Assert.Equal(values.Sum(v => (double)MathF.Abs(v)), sumAbs, 1e-3 * length);
        // The one-range overload returns the same numbers it names.
        FloatScan.Scan(values, absolute: true, out float aLo, out float aHi, out _);
        Assert.Equal((absMin, absMax), (aLo, aHi));
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void ReportsABatchWithANonFiniteValue(float bad)
    {
        var values = Enumerable.Range(0, 37).Select(i => (float)i).ToArray();
        values[21] = bad;

        Assert.False(FloatScan.Scan(values, out _, out _, out _, out _, out _));
    }
}
