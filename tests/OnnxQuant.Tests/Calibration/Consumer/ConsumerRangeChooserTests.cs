using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Calibration.Ranges.Consumer;
using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Tests.Calibration.Consumer;

/// <summary>
/// The per-tensor range choice by consumer output error (<see cref="ConsumerRangeChooser"/>) on a synthetic activation
/// whose one outlier channel meets near-zero weights: the tensor's own error keeps the outliers, the consumer's clips
/// them, and the consumer's choice really is better at the consumer's output.
/// </summary>
public class ConsumerRangeChooserTests
{
    private const int K = 8, N = 4, RowCount = 20_000;
    private static readonly QuantTarget Uint8 = new(DataType.UInt8, symmetric: false);
    private static readonly string[] Candidates = ["max", "99.99", "99.9"];

    // Rows of 8 channels ~ N(0, 1); channel 0 is 60 in every 500th row (0.025 % of the values: above the 99.99
    // cut, below the 99.9 cut). The weights read channel 0 with 0.001 and the others with ±1.
    private static (float[][] Rows, float[] Weights) Synthetic()
    {
        var random = new Random(5);
        var rows = new float[RowCount][];
        for (int r = 0; r < RowCount; r++)
        {
            rows[r] = new float[K];
            for (int j = 0; j < K; j++) rows[r][j] = (float)Gaussian(random);
            if (r % 500 == 0) rows[r][0] = 60;
        }
        var weights = new float[N * K];
        for (int n = 0; n < N; n++)
            for (int j = 0; j < K; j++) weights[n * K + j] = j == 0 ? 0.001f : ((n + j) % 2 == 0 ? 1f : -1f);
        return (rows, weights);
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private static Histogram HistogramOf(float[][] rows)
    {
        var histogram = new Histogram();
        histogram.Add(rows.SelectMany(r => r).ToArray());
        return histogram;
    }

    [Fact]
    public void OutlierChannelMeetingTinyWeights_ConsumerErrorClipsIt_TensorErrorKeepsIt()
    {
        var (rows, weights) = Synthetic();
        var histogram = HistogramOf(rows);
        var consumer = new LinearConsumer("fc", weights, N, 1, K, rows);

        var byTensor = ConsumerRangeChooser.Choose("x", histogram, Candidates, Uint8, []);
        var byConsumer = ConsumerRangeChooser.Choose("x", histogram, Candidates, Uint8, [consumer]);

        Assert.Equal("tensor", byTensor.JudgedBy);
        Assert.Equal("consumer", byConsumer.JudgedBy);
        // The tensor's own MSE pays 57² per clipped outlier and keeps them; the consumer sees them through 0.001.
        Assert.True(byTensor.Chosen.Range.Max >= 59, $"tensor error chose {byTensor.Chosen}");
        Assert.Equal("99.9", byConsumer.Chosen.Name);
        Assert.True(byConsumer.Chosen.Range.Max < 6, $"consumer error chose {byConsumer.Chosen}");

        // Provably better where it matters: at the consumer's output, measured directly.
        double Consumer(RangeCandidate c) => consumer.OutputError(QuantParams.FromRange(c.Range.Min, c.Range.Max, Uint8)).Error;
        Assert.True(Consumer(byConsumer.Chosen) < 0.5 * Consumer(byTensor.Chosen),
            $"consumer error {Consumer(byConsumer.Chosen)} vs {Consumer(byTensor.Chosen)}");
        Assert.Equal(byConsumer.Errors.Min(e => e.Error), byConsumer.Errors.Single(e => e.Name == "99.9").Error);
    }

    [Fact]
    public void SameInputs_SameDecisionAndErrors_BitForBit()
    {
        var (rows, weights) = Synthetic();
        var histogram = HistogramOf(rows);
        var a = ConsumerRangeChooser.Choose("x", histogram, RangeCandidate.DefaultNames, Uint8, [new LinearConsumer("fc", weights, N, 1, K, rows)]);
        var b = ConsumerRangeChooser.Choose("x", histogram, RangeCandidate.DefaultNames, Uint8, [new LinearConsumer("fc", weights, N, 1, K, rows)]);
        Assert.Equal(a.Chosen, b.Chosen);
        Assert.Equal(a.Errors, b.Errors);
        Assert.True(a.Errors.Count >= 3, "the default candidates give several distinct ranges");
    }

    [Fact]
    public void GroupedConsumer_ReadsOnlyItsGroupsChannels()
    {
        // Depthwise-like: 2 groups of K = 1; output 0 reads channel 0, output 1 channel 1. Only channel 1's error may count for output 1.
        var rows = new[] { new float[] { 1f, 3f } };
        var consumer = new LinearConsumer("dw", [2f, 5f], outputChannels: 2, groups: 2, k: 1, rows);
        var exact = consumer.OutputError(QuantParams.FromRange(0, 3, Uint8));
        Assert.Equal(4.0 + 225.0, exact.Signal, 6);   // (2·1)² + (5·3)²
        Assert.True(exact.Error < 1e-3, $"error {exact.Error}");
    }

    [Fact]
    public void UnknownCandidateName_IsRefusedWithWhatIsAllowed()
    {
        Assert.Null(RangeCandidate.Check("99.99"));
        Assert.Contains("not max, entropy, mse or a percentile", RangeCandidate.Check("p99")!);
        Assert.NotNull(RangeCandidate.Check("100"));
        var options = new CalibrateOptions { Method = Passes.Calibration.Ranges.CalibrationMethod.MinMax, Range = RangeChoice.ConsumerMse };
        Assert.Contains("signed histograms", options.Problem()!);
    }
}
