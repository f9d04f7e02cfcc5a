using OnnxQuant.Runtime.Evaluation;

namespace OnnxQuant.Tests.Evaluation;

public class ErrorStatisticsTests
{
    [Fact]
    public void Sqnr_IsSignalOverErrorEnergy_InDecibels()
    {
        // Σx² = 9 + 16 = 25, Σ(x−y)² = 0.25: SQNR = 10·log10(100) = 20 dB.
        var s = new ErrorStatistics();
        s.Add([3f, 4f], [3f, 4.5f]);
        Assert.Equal(25, s.SignalEnergy, 12);
        Assert.Equal(0.25, s.ErrorEnergy, 12);
        Assert.Equal(20, s.SqnrDb, 9);
    }

    [Fact]
    public void Sums_AccumulateOverSamples_AsOneLongVector()
    {
        // Two samples [1, 2] / [1, 2.5] and [2, 0] / [1, 0]: Σx² = 9, Σ(x−y)² = 0.25 + 1 = 1.25.
        var s = new ErrorStatistics();
        s.Add([1f, 2f], [1f, 2.5f]);
        s.Add([2f, 0f], [1f, 0f]);
        Assert.Equal(2, s.Samples);
        Assert.Equal(4, s.Count);
        Assert.Equal(10 * Math.Log10(9 / 1.25), s.SqnrDb, 9);
        Assert.Equal(1.0, s.MaxAbsError, 12);
        // Σxy = 1 + 5 + 2 = 8, Σy² = 1 + 6.25 + 1 = 8.25.
        Assert.Equal(8 / Math.Sqrt(9 * 8.25), s.Cosine, 12);
    }

    [Fact]
    public void Cosine_OfOrthogonalAndParallelVectors()
    {
        var orthogonal = new ErrorStatistics();
        orthogonal.Add([1f, 0f], [0f, 1f]);
        Assert.Equal(0, orthogonal.Cosine, 12);

        var diagonal = new ErrorStatistics();
        diagonal.Add([1f, 0f], [1f, 1f]);
        Assert.Equal(1 / Math.Sqrt(2), diagonal.Cosine, 12);

        // Cosine ignores scale, SQNR does not: y = 2x has cosine 1 and SQNR 0 dB (the error equals the signal).
        var scaled = new ErrorStatistics();
        scaled.Add([1f, -2f, 3f], [2f, -4f, 6f]);
        Assert.Equal(1, scaled.Cosine, 12);
        Assert.Equal(0, scaled.SqnrDb, 9);
    }

    [Fact]
    public void MaxAbsError_IsTheLargestOverAllSamples()
    {
        var s = new ErrorStatistics();
        s.Add([0f, 1f], [0.5f, 1f]);
        s.Add([-3f, 1f], [-1.75f, 1f]);
        s.Add([0f, 0f], [0.25f, 0f]);
        Assert.Equal(1.25, s.MaxAbsError, 12);
    }

    [Fact]
    public void IdenticalOutputs_HaveInfiniteSqnr_AndAreReportedAsIdentical()
    {
        var s = new ErrorStatistics();
        s.Add([1f, -2f], [1f, -2f]);
        Assert.Equal(double.PositiveInfinity, s.SqnrDb);
        Assert.Equal(1, s.Cosine, 12);
        var summary = ErrorSummary.From("y", s);
        Assert.Null(summary.SqnrDb);
        Assert.True(summary.Identical);
    }

    [Fact]
    public void ZeroReference_GivesNegativeInfinity_OrNaN_WhenBothAreZero()
    {
        var wrong = new ErrorStatistics();
        wrong.Add([0f, 0f], [0f, 1f]);
        Assert.Equal(double.NegativeInfinity, wrong.SqnrDb);
        Assert.Equal(0, wrong.Cosine);
        Assert.False(ErrorSummary.From("y", wrong).Identical);

        var zeros = new ErrorStatistics();
        zeros.Add([0f, 0f], [0f, 0f]);
        Assert.True(double.IsNaN(zeros.SqnrDb));
        Assert.Equal(1, zeros.Cosine);
    }

    [Fact]
    public void WorstFirst_RanksLowSqnrFirst_AndIdenticalLast()
    {
        ErrorSummary Summary(string name, float[] x, float[] y)
        {
            var s = new ErrorStatistics();
            s.Add(x, y);
            return ErrorSummary.From(name, s);
        }
        var list = new[]
        {
            Summary("same", [1f], [1f]),
            Summary("20dB", [3f, 4f], [3f, 4.5f]),
            Summary("zero-ref", [0f], [1f]),
            Summary("0dB", [1f], [2f]),
        };
        Assert.Equal(["zero-ref", "0dB", "20dB", "same"], list.OrderBy(ErrorSummary.WorstFirst).Select(e => e.Name));
    }

    [Fact]
    public void Add_RefusesTensorsOfDifferentLength()
    {
        var s = new ErrorStatistics();
        Assert.Throws<ArgumentException>(() => s.Add([1f, 2f], [1f]));
    }
}
