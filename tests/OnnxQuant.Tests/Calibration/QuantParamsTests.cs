using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;

namespace OnnxQuant.Tests.Calibration;

public class QuantParamsTests
{
    [Fact]
    public void Uint8AsymmetricPutsZeroOnACode()
    {
        // [−1, 3]: s = 4/255, z = round(0 − (−1)/s) = round(63.75) = 64.
        var p = QuantParams.FromRange(-1, 3, new QuantTarget(DataType.UInt8));
        Assert.Equal(4f / 255f, p.Scale);
        Assert.Equal(64, p.ZeroPoint);
        Assert.Equal(0.0, p.Dequantize(p.Quantize(0)));
    }

    [Fact]
    public void Int8SymmetricUsesPlusMinus127AndZeroPointZero()
    {
        // max(|−2|, |1|) = 2 over [−127, 127]: s = 4/254.
        var p = QuantParams.FromRange(-2, 1, new QuantTarget(DataType.Int8, symmetric: true));
        Assert.Equal((float)(4.0 / 254), p.Scale);
        Assert.Equal(0, p.ZeroPoint);
        Assert.Equal((-127, 127), p.Target.CodeRange);
        Assert.Equal(-127, p.Quantize(-1000));
    }

    [Fact]
    public void Uint8SymmetricCentresOn128()
    {
        var p = QuantParams.FromRange(-1, 1, new QuantTarget(DataType.UInt8, symmetric: true));
        Assert.Equal(2f / 255f, p.Scale);
        Assert.Equal(128, p.ZeroPoint);
    }

    [Fact]
    public void ARangeThatExcludesZeroIsWidenedToIncludeIt()
    {
        // [2, 4] → [0, 4]: uint8 s = 4/255, z = 0; int8 z = −128.
        var u = QuantParams.FromRange(2, 4, new QuantTarget(DataType.UInt8));
        Assert.Equal(4f / 255f, u.Scale);
        Assert.Equal(0, u.ZeroPoint);
        var s = QuantParams.FromRange(2, 4, new QuantTarget(DataType.Int8));
        Assert.Equal(-128, s.ZeroPoint);
        var n = QuantParams.FromRange(-4, -2, new QuantTarget(DataType.UInt8));
        Assert.Equal(255, n.ZeroPoint);
    }

    [Theory]
    [InlineData(-0.25, 7.25, 0)] // −rmin/s = 0.5 → 0 (half to even)
    [InlineData(-0.75, 6.75, 2)] // 1.5 → 2
    [InlineData(-1.25, 6.25, 2)] // 2.5 → 2
    public void ZeroPointRoundsHalfToEven(double min, double max, long zero)
    {
        // uint4: s = 7.5/15 = 0.5 exactly.
        var p = QuantParams.FromRange(min, max, new QuantTarget(DataType.UInt4));
        Assert.Equal(0.5f, p.Scale);
        Assert.Equal(zero, p.ZeroPoint);
    }

    [Fact]
    public void QuantizeRoundsHalfToEvenAndSaturates()
    {
        var p = QuantParams.FromRange(-128, 127, new QuantTarget(DataType.Int8));
        Assert.Equal(1f, p.Scale);
        Assert.Equal(0, p.ZeroPoint);
        Assert.Equal(2, p.Quantize(2.5));
        Assert.Equal(4, p.Quantize(3.5));
        Assert.Equal(-2, p.Quantize(-2.5));
        Assert.Equal(127, p.Quantize(300));
        Assert.Equal(-128, p.Quantize(-300));
    }

    [Theory]
    [InlineData(DataType.Int4, false, false, -8, 7)]
    [InlineData(DataType.Int4, true, false, -7, 7)]
    [InlineData(DataType.UInt4, false, false, 0, 15)]
    [InlineData(DataType.Int16, true, false, -32767, 32767)]
    [InlineData(DataType.UInt16, false, false, 0, 65535)]
    [InlineData(DataType.Int8, false, true, -64, 63)]
    [InlineData(DataType.Int8, true, true, -63, 63)]
    [InlineData(DataType.UInt8, false, true, 0, 127)]
    public void CodeRangesFollowTheBitWidth(DataType type, bool symmetric, bool reduced, long min, long max) =>
        Assert.Equal((min, max), new QuantTarget(type, symmetric, reduced).CodeRange);

    [Fact]
    public void Int16SymmetricScaleIsAbsMaxOver32767()
    {
        var p = QuantParams.FromAbsMax(3, new QuantTarget(DataType.Int16, symmetric: true));
        Assert.Equal((float)(6.0 / 65534), p.Scale);
        Assert.Equal(0, p.ZeroPoint);
    }

    [Fact]
    public void AZeroRangeGetsScaleOneAsOrtDoes()
    {
        var target = new QuantTarget(DataType.UInt8);
        var p = QuantParams.FromRange(0, 0, target);
        Assert.True(QuantParams.IsDegenerate(0, 0, target));
        Assert.Equal(1f, p.Scale);
        Assert.Equal(0, p.ZeroPoint);
        Assert.Equal(0.0, p.FakeQuantize(0));
        // A value seen only at run time still quantizes to itself (to the nearest integer) instead of saturating.
        Assert.Equal(3.0, p.FakeQuantize(3.2));
        Assert.False(QuantParams.IsDegenerate(0, 1e-3, target));
        Assert.Equal(QuantParams.MinScale, MathF.Pow(2, -126));
    }

    [Fact]
    public void Float8ScaleMapsAbsMaxToTheLargestFiniteValue()
    {
        var e4m3 = new QuantTarget(DataType.Float8E4M3FN);
        var p = QuantParams.FromAbsMax(896, e4m3);
        Assert.Equal(2f, p.Scale);
        Assert.Equal(0, p.ZeroPoint);
        // s = 1: 300 lies between E4M3 values 288 and 320 → 288; beyond 448 saturates.
        var one = QuantParams.FromRange(-448, 100, e4m3);
        Assert.Equal(1f, one.Scale);
        Assert.Equal(288, one.FakeQuantize(300));
        Assert.Equal(448, one.FakeQuantize(1000));
        Assert.Equal(240f / 240f, QuantParams.FromAbsMax(240, new QuantTarget(DataType.Float8E4M3FNUZ)).Scale);
        Assert.Equal(1f, QuantParams.FromAbsMax(57344, new QuantTarget(DataType.Float8E5M2)).Scale);
    }

    [Fact]
    public void Float8DistributionScaleDividesByTheFormatsStandardDeviation()
    {
        // All finite E4M3FN values: ±(every normal and subnormal), symmetric, so the mean is 0.
        double sumSquares = 0;
        int n = 0;
        for (int e = 0; e < 16; e++)
            for (int m = 0; m < 8; m++)
            {
                if (e == 15 && m == 7) continue; // NaN
                double v = e == 0 ? m / 8.0 * Math.Pow(2, -6) : (1 + m / 8.0) * Math.Pow(2, e - 7);
                sumSquares += 2 * v * v;
                n += 2;
            }
        double std = Math.Sqrt(sumSquares / n);
        Assert.Equal(std, QuantParams.Float8Std(DataType.Float8E4M3FN), 9);
        Assert.Equal((float)(3 / std), QuantParams.Float8FromStd(3, new QuantTarget(DataType.Float8E4M3FN)).Scale);
    }

    [Fact]
    public void RefusesTargetsThatAreNotQuantizedTypes() =>
        Assert.Contains("float", Assert.Throws<OnnxQuantException>(() => new QuantTarget(DataType.Float)).Message);
}
