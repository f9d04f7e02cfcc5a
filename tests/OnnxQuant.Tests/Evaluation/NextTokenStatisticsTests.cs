using OnnxQuant.Ir;
using OnnxQuant.Runtime.Evaluation;

namespace OnnxQuant.Tests.Evaluation;

public class NextTokenStatisticsTests
{
    private const double Tolerance = 1e-12;

    [Fact]
    public void Kl_OfTwoTokens_IsTheHandComputedValue()
    {
        // Float logits [0, ln 3] → P = [1/4, 3/4]; quantized [0, 0] → Q = [1/2, 1/2].
        double expected = 0.25 * Math.Log(0.25 / 0.5) + 0.75 * Math.Log(0.75 / 0.5);
        Assert.Equal(expected, NextTokenStatistics.Kl([0f, MathF.Log(3)], [0f, 0f]), 7);
    }

    [Fact]
    public void Kl_IsZero_ForLogitsShiftedByAConstant_EvenHugeOnes()
    {
        // Softmax ignores a shift; a naive exp(1000) would overflow to ∞ and give NaN.
        float[] p = [1000f, 1001f, 998f];
        float[] q = [1050f, 1051f, 1048f];
        double kl = NextTokenStatistics.Kl(p, q);
        Assert.True(double.IsFinite(kl));
        Assert.Equal(0, kl, 9);
    }

    [Fact]
    public void Kl_OfATokenWithoutFloatMass_CountsNothing()
    {
        // P = [1, 0] (−∞ logit), Q = [1/2, 1/2]: KL = 1 · ln(1 / (1/2)) = ln 2; the 0 · log 0 term is 0, not NaN.
        Assert.Equal(Math.Log(2), NextTokenStatistics.Kl([0f, float.NegativeInfinity], [0f, 0f]), 12);
    }

    [Fact]
    public void Kl_OfIdenticalRows_IsExactlyZero()
    {
        float[] row = [0.3f, -1.7f, 2.25f, 0f];
        Assert.Equal(0.0, NextTokenStatistics.Kl(row, row));
    }

    [Fact]
    public void Statistics_AverageOverEveryPosition_AndCountAgreements()
    {
        var s = new NextTokenStatistics();
        // Two positions of vocab 2: [0, ln 3] vs [0, 0] (arg-max 1 vs 0 on a tie → first: disagree), then identical rows.
        s.Add([0f, MathF.Log(3), 5f, 1f], [0f, 0f, 5f, 1f], vocab: 2);
        // One position of vocab 3: [2, 0, 0] vs [1, 0, 0], both pick token 0.
        s.Add([2f, 0f, 0f], [1f, 0f, 0f], vocab: 3);

        double k0 = 0.25 * Math.Log(0.25 / 0.5) + 0.75 * Math.Log(0.75 / 0.5);
        double e2 = Math.Exp(2), e1 = Math.E;
        double p0 = e2 / (e2 + 2), p1 = 1 / (e2 + 2), q0 = e1 / (e1 + 2), q1 = 1 / (e1 + 2);
        double k2 = p0 * Math.Log(p0 / q0) + 2 * p1 * Math.Log(p1 / q1);
        Assert.Equal(3, s.Positions);
        Assert.Equal(2, s.Agreements);
        Assert.Equal(200.0 / 3, s.AgreementRate, 9);
        Assert.Equal((k0 + 0 + k2) / 3, s.MeanKl, 7);
        Assert.Equal(Math.Max(k0, k2), s.MaxKl, 7);
    }

    [Fact]
    public void Logits_ThatAreNotWholeRows_AreRejected()
    {
        var s = new NextTokenStatistics();
        Assert.Throws<ArgumentException>(() => s.Add([1f, 2f, 3f], [1f, 2f, 3f], vocab: 2));
    }

    [Theory]
    [InlineData(90.0, null, true)]
    [InlineData(95.0, null, false)]
    [InlineData(null, 0.05, true)]
    [InlineData(null, 0.01, false)]
    public void NextTokenGates_CompareAgreementAndKl(double? minAgreement, double? maxKl, bool passes)
    {
        var measured = new NextTokenAgreement("logits", 512, 100, 92, 92.0, 0.02, 0.4);
        var gate = Assert.Single(EvalGates.CheckNextToken(measured, minAgreement, maxKl));
        Assert.Equal(passes, gate.Passed);
        Assert.Equal(minAgreement is null ? 0.02 : 92.0, gate.Value);
    }

    [Fact]
    public void KlGate_FailsOnNaN()
    {
        var measured = new NextTokenAgreement("logits", 512, 100, 92, 92.0, double.NaN, double.NaN);
        Assert.False(Assert.Single(EvalGates.CheckNextToken(measured, null, 1.0)).Passed);
    }

    [Fact]
    public void NextTokenGate_WithoutLogits_IsAUserError()
    {
        Assert.Throws<OnnxQuantException>(() => EvalGates.CheckNextToken(null, 90, null));
        Assert.Empty(EvalGates.CheckNextToken(null, null, null));
    }
}
