using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Runtime.Calibration.Statistics;
using OnnxQuant.Passes.Quantization;

namespace OnnxQuant.Passes.Calibration;

/// <summary>
/// What a collecting pass (<c>calibrate</c>) leaves in the <see cref="PassContext"/> for the readers after it:
/// statistics and ranges looked up by IR <see cref="Value"/> (identity, not name), and which of them are still
/// valid. Names are only the boundary: ONNX Runtime exposes tensors by name and the statistics file
/// (<see cref="StatisticsJson"/>) is keyed by name, so <see cref="Bind"/> maps the name-keyed
/// <see cref="CalibrationStatistics"/> onto the values of the model as it was calibrated, once.
/// </summary>
/// <remarks>
/// The pass manager calls <see cref="Invalidate"/> after a pass changes the graph, keeping what the pass declares it
/// preserves (<see cref="StatisticsUse.Preserves"/>). A read of an invalidated value throws, naming the pass that
/// invalidated it: a pipeline checked at load time never does that, so this catches passes run by hand and passes
/// whose run-time preservation is narrower than their declaration.
/// </remarks>
public sealed class CalibrationResult : IActivationRanges
{
    private readonly Dictionary<Value, TensorStatistics> _statistics;
    private readonly Dictionary<Value, TensorRange> _ranges;
    private readonly Dictionary<Value, string> _staleBy = [];

    private CalibrationResult(CalibrationStatistics statistics, RangeOptions options,
        Dictionary<Value, TensorStatistics> byValue, Dictionary<Value, TensorRange> ranges, IReadOnlyDictionary<string, TensorRange>? chosen)
    {
        Statistics = statistics;
        Options = options;
        Chosen = chosen;
        _statistics = byValue;
        _ranges = ranges;
    }

    /// <summary>The statistics as collected or loaded, keyed by the tensor names of the calibrated model (what is saved).</summary>
    public CalibrationStatistics Statistics { get; }

    /// <summary>The method the ranges were computed with (an override may recompute one from <see cref="TryGetStatistics"/>).</summary>
    public RangeOptions Options { get; }

    /// <summary>Ranges chosen per tensor (by name) that replace the method's (<c>range: consumer-mse</c>); null when none were.</summary>
    public IReadOnlyDictionary<string, TensorRange>? Chosen { get; }

    /// <summary>The range of every calibrated value that has one (stale ones included; <see cref="TryGetRange(Value, out TensorRange)"/> checks).</summary>
    public IReadOnlyDictionary<Value, TensorRange> Ranges => _ranges;

    /// <summary>The ranges by tensor name, as in the statistics file (for reports and for comparing two runs).</summary>
    public IReadOnlyDictionary<string, TensorRange> RangesByName =>
        _ranges.ToDictionary(e => _statistics[e.Key].Name, e => e.Value, StringComparer.Ordinal);

    /// <summary>
    /// Maps <paramref name="statistics"/> (keyed by tensor name) onto the main-graph values of <paramref name="model"/>
    /// of those names, and computes the range of each value whose statistics the method can use; a range in
    /// <paramref name="chosen"/> (by tensor name) replaces the method's.
    /// </summary>
    public static CalibrationResult Bind(Model model, CalibrationStatistics statistics, RangeOptions options,
        IReadOnlyDictionary<string, TensorRange>? chosen = null)
    {
        var byName = MainGraphValues(model);
        var byValue = new Dictionary<Value, TensorStatistics>();
        foreach (var (name, t) in statistics.Tensors)
            if (byName.TryGetValue(name, out var value)) byValue[value] = t;
        // Only tensors whose statistics carry what the method needs get a range (one observed for XᵀX alone has no
        // histogram); which tensors a reader needs ranges of was checked against its request.
        var rangeSpec = options.ObserverSpec();
        var ranged = new CalibrationStatistics();
        foreach (var t in statistics.Tensors.Values)
            if (StatisticsRequests.Missing(new StatisticsRequests.Need { Range = true }, rangeSpec, t) is null) ranged.Add(t);
        var names = RangeCalculator.ComputeAll(ranged, options);
        var ranges = new Dictionary<Value, TensorRange>();
        foreach (var (value, t) in byValue)
            if (chosen is not null && chosen.TryGetValue(t.Name, out var picked)) ranges[value] = picked;
            else if (names.TryGetValue(t.Name, out var range)) ranges[value] = range;
        return new CalibrationResult(statistics, options, byValue, ranges, chosen);
    }

    /// <summary>The same statistics bound to <paramref name="copy"/>, a copy of the calibrated model (same tensor names).</summary>
    public CalibrationResult Rebind(Model copy) => Bind(copy, Statistics, Options, Chosen);

    /// <summary>The calibrated range of <paramref name="tensor"/>; false when it was not calibrated or saw no finite value.</summary>
    /// <exception cref="OnnxQuantException">Its statistics were invalidated by a pass that changed the graph.</exception>
    public bool TryGetRange(Value tensor, out TensorRange range)
    {
        if (!_ranges.TryGetValue(tensor, out range)) return false;
        ThrowIfStale(tensor);
        return true;
    }

    bool IActivationRanges.TryGetRange(Value tensor, out float min, out float max)
    {
        bool found = TryGetRange(tensor, out var range);
        (min, max) = ((float)range.Min, (float)range.Max);
        return found;
    }

    /// <summary>Everything observed of <paramref name="tensor"/>; false when it was not calibrated.</summary>
    /// <exception cref="OnnxQuantException">Its statistics were invalidated by a pass that changed the graph.</exception>
    public bool TryGetStatistics(Value tensor, out TensorStatistics statistics)
    {
        if (!_statistics.TryGetValue(tensor, out statistics!)) return false;
        ThrowIfStale(tensor);
        return true;
    }

    /// <summary>Everything observed of <paramref name="tensor"/>; throws when it was not calibrated or is stale.</summary>
    public TensorStatistics Get(Value tensor) => TryGetStatistics(tensor, out var s) ? s
        : throw new OnnxQuantException($"No calibration statistics for {tensor}: no pass requested them before the last calibrate step " +
            "(a pass reading statistics must request them in RequestStatistics), or the value was created after it.");

    /// <summary>Per-channel max |x| along the requested axis (SmoothQuant).</summary>
    public double[] ChannelAbsMax(Value tensor) => Channels(tensor, "per-channel abs-max").AbsMax();

    /// <summary>Per-channel mean |x| (AWQ).</summary>
    public double[] ChannelMeanAbs(Value tensor) => Channels(tensor, "per-channel mean |x|").MeanAbs();

    /// <summary>Per-channel mean x (bias correction).</summary>
    public double[] ChannelMean(Value tensor) => Channels(tensor, "per-channel mean x").Mean();

    /// <summary>XᵀX (K×K, row-major) over the rows of <paramref name="linearInput"/>, with the number of rows.</summary>
    public (double[] Matrix, int K, long Rows) SecondMoment(Value linearInput)
    {
        var s = Get(linearInput).SecondMoment ?? throw NotCollected(linearInput, "XᵀX");
        return (s.ToMatrix(), s.K, s.Rows);
    }

    /// <summary>The per-token abs-max summary of <paramref name="tensor"/>.</summary>
    public TokenStatistics Tokens(Value tensor) => Get(tensor).Tokens ?? throw NotCollected(tensor, "per-token statistics");

    /// <summary>
    /// Marks every valid value's statistics stale except <paramref name="keep"/>'s: <paramref name="pass"/> changed
    /// the graph. Stale statistics stay stale; only a new collection replaces them.
    /// </summary>
    public void Invalidate(string pass, IReadOnlySet<Value> keep)
    {
        foreach (var value in _statistics.Keys)
            if (!keep.Contains(value)) _staleBy.TryAdd(value, pass);
    }

    /// <summary>True when <paramref name="tensor"/> has statistics that no pass has invalidated.</summary>
    public bool IsValid(Value tensor) => _statistics.ContainsKey(tensor) && !_staleBy.ContainsKey(tensor);

    private ChannelStatistics Channels(Value tensor, string what) => Get(tensor).Channels ?? throw NotCollected(tensor, what);

    private static OnnxQuantException NotCollected(Value tensor, string what) =>
        new($"The calibration statistics of {tensor} have no {what}: request it in the reading pass's RequestStatistics, so the calibrate step before it collects it.");

    private void ThrowIfStale(Value tensor)
    {
        if (_staleBy.TryGetValue(tensor, out string? pass))
            throw new OnnxQuantException(
                $"The calibration statistics of {tensor} are stale: pass '{pass}' changed the graph after they were collected and does not preserve them. " +
                $"Run 'calibrate' again after '{pass}'.");
    }

    private static Dictionary<string, Value> MainGraphValues(Model model)
    {
        var map = new Dictionary<string, Value>(StringComparer.Ordinal);
        foreach (var v in model.Graph.Inputs) if (v.Name is not null && !v.IsConstant) map[v.Name] = v;
        foreach (var node in model.Graph.Nodes)
            foreach (var v in node.Outputs)
                if (v?.Name is not null) map[v.Name] = v;
        return map;
    }
}
