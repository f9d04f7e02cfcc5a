using OnnxQuant.Ir;
using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Passes.Calibration;

/// <summary>
/// What the readers of one calibration run need, value by value (IR <see cref="Value"/> objects, not names): each
/// reader adds its requests (<see cref="IPass.RequestStatistics"/>), requests for the same value merge, and the
/// collector observes the union in one run over the data. A reader may request only the kinds it declares in
/// <see cref="StatisticsUse.Reads"/>, so the declaration the pipeline is checked against cannot drift from what the
/// pass really reads.
/// </summary>
public sealed class StatisticsRequests
{
    /// <summary>What is requested of one value.</summary>
    public sealed record Need
    {
        public bool Range { get; init; }
        public HistogramKind Histogram { get; init; }
        public int? ChannelAxis { get; init; }
        public HistogramKind ChannelHistogram { get; init; }
        public bool SecondMoment { get; init; }
        public bool Tokens { get; init; }
    }

    private readonly Dictionary<Value, Need> _needs = [];
    private readonly List<Value> _order = [];
    private StatisticKinds _allowed = ~StatisticKinds.None;
    private string _reader = "this pass";

    /// <summary>The values requested, in the order first requested, with what is needed of each.</summary>
    public IEnumerable<KeyValuePair<Value, Need>> Needs => _order.Select(v => new KeyValuePair<Value, Need>(v, _needs[v]));

    public int Count => _order.Count;

    public bool Contains(Value value) => _needs.ContainsKey(value);

    /// <summary>Collects the requests of <paramref name="step"/> on <paramref name="model"/>, holding it to its declaration.</summary>
    public void AddFrom(PassStep step, Model model)
    {
        (_allowed, _reader) = (step.Statistics.Reads, $"'{step.Name}'");
        try { step.Pass.RequestStatistics(model, step.Options, this); }
        finally { (_allowed, _reader) = (~StatisticKinds.None, "this pass"); }
    }

    /// <summary>A range under the collecting pass's method (min/max, and the histogram its method needs).</summary>
    public void Range(Value value) => Add(value, StatisticKinds.Range, n => n with { Range = true });

    /// <summary>A histogram of the values (<see cref="HistogramKind.Signed"/>) or magnitudes (<see cref="HistogramKind.Absolute"/>).</summary>
    public void Histogram(Value value, HistogramKind kind)
    {
        if (kind == HistogramKind.None) throw new ArgumentException("Request a histogram of values or of magnitudes.", nameof(kind));
        Add(value, StatisticKinds.Histogram, n => n.Histogram != HistogramKind.None && n.Histogram != kind
            ? throw new InvalidOperationException($"{_reader} requests both a {n.Histogram} and a {kind} histogram of {value}.")
            : n with { Histogram = kind });
    }

    /// <summary>Per-channel min, max and abs-max along <paramref name="axis"/> (negative counts from the end).</summary>
    public void ChannelAbsMax(Value value, int axis = -1) => Add(value, StatisticKinds.ChannelAbsMax, n => WithAxis(n, value, axis));

    /// <summary>Per-channel min/max and a signed histogram per channel along <paramref name="axis"/> (RepQ-ViT's per-channel
    /// range search).</summary>
    public void ChannelHistograms(Value value, int axis = -1) =>
        Add(value, StatisticKinds.ChannelAbsMax, n => WithAxis(n, value, axis) with { ChannelHistogram = HistogramKind.Signed });

    /// <summary>Per-channel mean |x| and mean x along <paramref name="axis"/> (negative counts from the end).</summary>
    public void ChannelMeans(Value value, int axis = -1) => Add(value, StatisticKinds.ChannelMean, n => WithAxis(n, value, axis));

    /// <summary>XᵀX over the rows of a linear layer's input (its last axis is K; every other axis counts rows).</summary>
    public void SecondMoment(Value linearInput) => Add(linearInput, StatisticKinds.SecondMoment, n => n with { SecondMoment = true });

    /// <summary>The distribution of each token's abs-max (tokens are the rows of the last axis).</summary>
    public void PerToken(Value value) => Add(value, StatisticKinds.Tokens, n => n with { Tokens = true });

    /// <summary>
    /// The observer of one value: <paramref name="rangeSpec"/> (the collecting pass's method) when a range is
    /// requested, with the other parts added. A value requested for a range alone gets exactly
    /// <paramref name="rangeSpec"/>, so its statistics do not depend on what other values are requested.
    /// </summary>
    public static ObserverSpec SpecFor(Need need, ObserverSpec rangeSpec)
    {
        var spec = need.Range ? rangeSpec : new ObserverSpec { HistogramResolution = rangeSpec.HistogramResolution };
        if (need.Histogram != HistogramKind.None)
        {
            if (spec.Histogram != HistogramKind.None && spec.Histogram != need.Histogram)
                throw new OnnxQuantException($"A {need.Histogram} histogram is requested of a tensor whose range method keeps a {spec.Histogram} one; " +
                    "one tensor keeps one histogram. Calibrate with a method whose histogram agrees, or in two calibrate steps.");
            spec = spec with { Histogram = need.Histogram };
        }
        spec = spec with { ChannelAxis = need.ChannelAxis, SecondMoment = need.SecondMoment, Tokens = need.Tokens };
        return need.ChannelHistogram == HistogramKind.None ? spec : spec with { ChannelHistogram = need.ChannelHistogram };
    }

    /// <summary>Why statistics <paramref name="have"/> lack part of <paramref name="need"/> (null when they cover it).</summary>
    public static string? Missing(Need need, ObserverSpec rangeSpec, TensorStatistics have)
    {
        var want = SpecFor(need, rangeSpec);
        if (want.Histogram != HistogramKind.None && have.Histogram is not { } h) return $"no {want.Histogram.ToString().ToLowerInvariant()} histogram";
        if (want.Histogram != HistogramKind.None && have.Histogram!.Absolute != (want.Histogram == HistogramKind.Absolute))
            return $"a histogram of {(have.Histogram.Absolute ? "|x|" : "x")}, not of {(want.Histogram == HistogramKind.Absolute ? "|x|" : "x")}";
        if (want.MovingAverage && !have.MinMax.MovingAverage) return "no moving-average min/max";
        if (want.ChannelAxis is not null && have.Channels is null) return "no per-channel statistics";
        if (want.ChannelHistogram != HistogramKind.None && have.Channels?.Histograms is null) return "no per-channel histograms";
        if (want.SecondMoment && have.SecondMoment is null) return "no XᵀX";
        if (want.Tokens && have.Tokens is null) return "no per-token statistics";
        return null;
    }

    private Need WithAxis(Need need, Value value, int axis) => need.ChannelAxis is { } a && a != axis
        ? throw new InvalidOperationException($"{_reader} requests per-channel statistics of {value} along axes {a} and {axis}; one tensor keeps one channel axis.")
        : need with { ChannelAxis = axis };

    private void Add(Value value, StatisticKinds kind, Func<Need, Need> change)
    {
        if (!_allowed.HasFlag(kind))
            throw new InvalidOperationException(
                $"{_reader} requests {StatisticsUse.Describe(kind)} of {value} but declares that it reads {StatisticsUse.Describe(_allowed)}; add it to the pass's StatisticsUse.Reads.");
        if (value.IsConstant) throw new ArgumentException($"{value} is a constant: it is read from its values, not calibrated.", nameof(value));
        if (!_needs.TryGetValue(value, out var need))
        {
            need = new Need();
            _order.Add(value);
        }
        _needs[value] = change(need);
    }
}
