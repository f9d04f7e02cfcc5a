namespace OnnxQuant.Passes;

/// <summary>
/// What a pass does with calibration statistics, declared so that a pipeline can be checked before it runs
/// (<see cref="PipelineValidator"/>): which kinds it reads, whether it collects them (the <c>calibrate</c> pass), and
/// what stays valid when it changes the graph. A reader must follow a collector with no pass in between that
/// invalidates statistics (<see cref="StatisticsPreservation.None"/>); a collector gathers, in one run over the data,
/// the union of what the readers after it request (<see cref="IPass.RequestStatistics"/>).
/// </summary>
public sealed record StatisticsUse
{
    /// <summary>Reads nothing, collects nothing, and a change invalidates every statistic.</summary>
    public static StatisticsUse None { get; } = new();

    /// <summary>Only annotates the graph (types, shapes): statistics stay valid.</summary>
    public static StatisticsUse PreservesAll { get; } = new() { Preserves = StatisticsPreservation.All };

    /// <summary>The kinds this pass reads; what it requests at run time must be among them.</summary>
    public StatisticKinds Reads { get; init; }

    /// <summary>True for a pass that collects the statistics the readers after it request.</summary>
    public bool Collects { get; init; }

    public StatisticsPreservation Preserves { get; init; }

    /// <summary>"ranges, per-channel means" — the kinds in words, for messages and <c>onnxquant passes</c>.</summary>
    public static string Describe(StatisticKinds kinds)
    {
        var words = new List<string>();
        if (kinds.HasFlag(StatisticKinds.Range)) words.Add("ranges");
        if (kinds.HasFlag(StatisticKinds.Histogram)) words.Add("histograms");
        if (kinds.HasFlag(StatisticKinds.ChannelAbsMax)) words.Add("per-channel abs-max");
        if (kinds.HasFlag(StatisticKinds.ChannelMean)) words.Add("per-channel means");
        if (kinds.HasFlag(StatisticKinds.SecondMoment)) words.Add("XᵀX of linear inputs");
        if (kinds.HasFlag(StatisticKinds.Tokens)) words.Add("per-token abs-max");
        return words.Count == 0 ? "none" : string.Join(", ", words);
    }
}
