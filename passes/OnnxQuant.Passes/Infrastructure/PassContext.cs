using OnnxQuant.Ir;
using OnnxQuant.Runtime;

namespace OnnxQuant.Passes;

/// <summary>
/// What a pass may use besides the model: logging, cancellation, a seed for anything random, the ONNX Runtime
/// session settings, statistics counters
/// (printed by <c>--stats</c>) and cached analyses (e.g. calibration results). Passes keep no global state.
/// </summary>
public sealed class PassContext
{
    private readonly Dictionary<string, long> _counters = new(StringComparer.Ordinal);
    private readonly Dictionary<Type, object> _analyses = [];
    private readonly Dictionary<string, Dictionary<string, long>> _misses = new(StringComparer.Ordinal);

    public PassContext(int seed = 0, CancellationToken cancellation = default, Action<string>? log = null)
    {
        Seed = seed;
        Cancellation = cancellation;
        Log = log ?? (_ => { });
    }

    public int Seed { get; }

    /// <summary>
    /// How passes that run ONNX Runtime (constant folding, shape filling, calibration) create sessions. Graph
    /// optimizations stay off: a pass must see what our graph computes, not ORT's rewrite of it.
    /// </summary>
    public RunnerOptions Runner { get; init; } = RunnerOptions.Default;
    public CancellationToken Cancellation { get; }
    public Action<string> Log { get; }

    /// <summary>The pass currently running, for counters and messages.</summary>
    public string? CurrentPass { get; set; }

    /// <summary>The pipeline step currently running (set by the <see cref="PassManager"/>; null outside one).</summary>
    public PassStep? CurrentStep { get; set; }

    private readonly HashSet<Value> _preserved = [];

    /// <summary>
    /// For a pass that declares <see cref="StatisticsPreservation.Declared"/>: the values whose calibration statistics
    /// stay valid after this run; the pass manager invalidates the others when the pass reports a change.
    /// </summary>
    public void PreserveStatistics(IEnumerable<Value> values) => _preserved.UnionWith(values);

    /// <summary>The values named by <see cref="PreserveStatistics"/> since the last call, and forgets them.</summary>
    internal HashSet<Value> TakePreservedStatistics()
    {
        var taken = _preserved.ToHashSet();
        _preserved.Clear();
        return taken;
    }

    /// <summary>Adds to a counter named <c>pass.counter</c> (e.g. <c>fuse-gelu.fused</c>).</summary>
    public void Count(string counter, long amount = 1)
    {
        string key = CurrentPass is null ? counter : $"{CurrentPass}.{counter}";
        _counters[key] = _counters.GetValueOrDefault(key) + amount;
    }

    public IReadOnlyDictionary<string, long> Counters => _counters;

    /// <summary>
    /// Records why a rewrite pattern did not fire on a candidate node (its root op matched, the rest did not), keyed
    /// <c>pass.pattern</c>. Reasons should not name nodes, so equal reasons add up (<c>--stats</c> prints them).
    /// </summary>
    public void RecordMiss(string pattern, string reason, long amount = 1)
    {
        string key = CurrentPass is null ? pattern : $"{CurrentPass}.{pattern}";
        if (!_misses.TryGetValue(key, out var reasons)) _misses[key] = reasons = new(StringComparer.Ordinal);
        reasons[reason] = reasons.GetValueOrDefault(reason) + amount;
    }

    /// <summary>Near misses per <c>pass.pattern</c>: reason → how many candidates failed for it.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, long>> Misses =>
        _misses.ToDictionary(e => e.Key, e => (IReadOnlyDictionary<string, long>)e.Value, StringComparer.Ordinal);

    public T? GetAnalysis<T>() where T : class => _analyses.GetValueOrDefault(typeof(T)) as T;
    public void SetAnalysis<T>(T analysis) where T : class => _analyses[typeof(T)] = analysis;
    public void InvalidateAnalyses() => _analyses.Clear();
}
