using OnnxQuant.Passes.Quantization.Rounding;
using Xunit;

namespace OnnxQuant.Tests.Quantization.Rounding;

/// <summary>
/// Layers reading one input share its prepared Hessian: the rounder's Hessian of one XᵀX array is one array, its factor
/// is prepared once per settings and equals a fresh preparation; a Hessian a caller passes in is never reused (it may be
/// edited between calls).
/// </summary>
public sealed class GptqFactorReuseTests
{
    private const int K = 24;

    private static double[] SecondMoment(int seed)
    {
        var random = new Random(seed);
        var xtx = new double[K * K];
        var x = new double[K];
        for (int n = 0; n < 64; n++)
        {
            for (int i = 0; i < K; i++) x[i] = i == 5 ? 0 : random.NextDouble() * 2 - 1;   // input 5 never fires
            for (int i = 0; i < K; i++)
                for (int j = 0; j < K; j++) xtx[i * K + j] += x[i] * x[j];
        }
        return xtx;
    }

    [Fact]
    public void OneXtxArray_IsPreparedOnce_AndEqualsAFreshPreparation()
    {
        var reuse = new GptqFactorReuse();
        var xtx = SecondMoment(1);
        var h = reuse.HessianOf(xtx, 64);
        Assert.Same(h, reuse.HessianOf(xtx, 64));
        var first = GptqFactorReuse.FactorOf(h, K, actOrder: true, damp: 0.01);
        Assert.Same(first, GptqFactorReuse.FactorOf(h, K, actOrder: true, damp: 0.01));
        var fresh = GptqHessian.Factor(GptqRounder.Hessian(xtx, 64), K, actOrder: true, damp: 0.01);
        Assert.Equal(fresh.U, first.U);
        Assert.Equal(fresh.Order, first.Order);
        Assert.Equal([5], first.DeadColumns);
        Assert.NotSame(first, GptqFactorReuse.FactorOf(h, K, actOrder: false, damp: 0.01));
        Assert.NotSame(h, reuse.HessianOf(xtx, 32));
        Assert.NotSame(h, reuse.HessianOf(SecondMoment(1), 64));
    }

    [Fact]
    public void ACallersHessian_IsFactoredAfreshEachTime_SoAnEditIsSeen()
    {
        var h = GptqRounder.Hessian(SecondMoment(2), 64);
        var before = GptqFactorReuse.FactorOf(h, K, true, 0.01);
        for (int i = 0; i < K; i++) h[i * K + i] *= 2;
        var after = GptqFactorReuse.FactorOf(h, K, true, 0.01);
        Assert.NotSame(before, after);
        Assert.NotEqual(before.U, after.U);
        Assert.Equal(GptqHessian.Factor(h, K, true, 0.01).U, after.U);
    }

    [Fact]
    public void DeadColumnsAreZeroedInEachLayersOwnWeights()
    {
        var reuse = new GptqFactorReuse();
        var h = reuse.HessianOf(SecondMoment(3), 64);
        var w = Enumerable.Range(0, 2 * K).Select(i => 1f + i).ToArray();
        var prepared = GptqHessian.Prepare(w, 2, h, K, true, 0.01);
        Assert.Equal(0, prepared.Weights[5]);
        Assert.Equal(0, prepared.Weights[K + 5]);
        Assert.Equal(w[6], prepared.Weights[6]);
        Assert.Equal(1f + 5, w[5]);
    }
}
