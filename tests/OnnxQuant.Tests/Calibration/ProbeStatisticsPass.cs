using OnnxQuant.Ir;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Calibration.Ranges;

namespace OnnxQuant.Tests.Calibration;

internal sealed class ProbeStatisticsOptions
{
    /// <summary>Also read the range of the first MatMul's output (after reading everything of its input).</summary>
    public bool ReadOutputRange { get; set; } = true;
}

/// <summary>What <see cref="ProbeStatisticsPass"/> read, left in the context for the test to compare.</summary>
internal sealed record ProbeReadings(double[] AbsMax, double[] MeanAbs, double[] Mean, double[] SecondMoment, int K, long Rows,
    long Tokens, double TokenMax, double TokenMeanAbsMax, double[]? OutputMean, TensorRange? OutputRange);

/// <summary>
/// A reader of the kinds no built-in pass reads yet (the consumers of issues 11 and 12 will): per-channel abs-max and
/// means, XᵀX and per-token statistics of the first MatMul's input (a linear layer's input), per-channel means and the
/// range of its output. It finds the values the same way when it requests and when it reads, as a real pass does.
/// </summary>
internal sealed class ProbeStatisticsPass : Pass<ProbeStatisticsOptions>
{
    public override string Name => "probe-statistics";
    public override string Summary => "Reads per-channel, second-moment and per-token statistics (a test reader).";

    public override StatisticsUse Statistics { get; } = new()
    {
        Reads = StatisticKinds.Range | StatisticKinds.ChannelAbsMax | StatisticKinds.ChannelMean | StatisticKinds.SecondMoment | StatisticKinds.Tokens,
        Preserves = StatisticsPreservation.All,
    };

    /// <summary>The linear layer's input: the Add output the MatMul reads (through a Q/DQ pair once insert-qdq ran).</summary>
    public static Value LinearInput(Model model) => model.Graph.Nodes.First(n => n.OpType == "Add").Output;

    public static Value LinearOutput(Model model) => model.Graph.Nodes.First(n => n.OpType == "MatMul").Output;

    public override void RequestStatistics(Model model, ProbeStatisticsOptions options, StatisticsRequests requests)
    {
        var x = LinearInput(model);
        requests.ChannelAbsMax(x);
        requests.ChannelMeans(x);
        requests.SecondMoment(x);
        requests.PerToken(x);
        requests.ChannelMeans(LinearOutput(model));
        requests.Range(LinearOutput(model));
    }

    public override PassResult Run(Model model, ProbeStatisticsOptions options, PassContext context)
    {
        var statistics = context.GetAnalysis<CalibrationResult>() ?? throw new OnnxQuantException("probe-statistics: not calibrated.");
        var x = LinearInput(model);
        var (matrix, k, rows) = statistics.SecondMoment(x);
        var tokens = statistics.Tokens(x);
        var readings = new ProbeReadings(statistics.ChannelAbsMax(x), statistics.ChannelMeanAbs(x), statistics.ChannelMean(x), matrix, k, rows,
            tokens.AbsMax.Count, tokens.AbsMax.Max, tokens.AbsMax.MeanAbs, null, null);
        context.SetAnalysis(readings);
        if (!options.ReadOutputRange) return PassResult.Unchanged;
        var y = LinearOutput(model);
        var mean = statistics.ChannelMean(y);
        if (!statistics.TryGetRange(y, out var range)) throw new OnnxQuantException($"probe-statistics: no range for {y}.");
        context.SetAnalysis(readings with { OutputMean = mean, OutputRange = range });
        return PassResult.Unchanged;
    }
}

/// <summary>Declares that it reads ranges only, then asks for XᵀX: the request must be refused.</summary>
internal sealed class UndeclaredRequestPass : Pass<NoOptions>
{
    public override string Name => "undeclared-request";
    public override string Summary => "Requests a kind it does not declare (a broken test reader).";
    public override StatisticsUse Statistics { get; } = new() { Reads = StatisticKinds.Range };

    public override void RequestStatistics(Model model, NoOptions options, StatisticsRequests requests) =>
        requests.SecondMoment(ProbeStatisticsPass.LinearInput(model));

    public override PassResult Run(Model model, NoOptions options, PassContext context) => PassResult.Unchanged;
}
