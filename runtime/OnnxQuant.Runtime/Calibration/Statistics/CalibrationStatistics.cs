using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.Calibration.Statistics;

/// <summary>
/// The statistics of a calibration run, keyed by tensor name (the names of the model being calibrated, after the
/// recipe's earlier passes, which are deterministic). Shards merge; the whole set saves to and loads from a
/// documented JSON file (<see cref="StatisticsJson"/>), and a reloaded set gives identical ranges.
/// </summary>
public sealed class CalibrationStatistics
{
    private readonly Dictionary<string, TensorStatistics> _tensors = new(StringComparer.Ordinal);

    /// <summary>Calibration samples the statistics were collected over.</summary>
    public long Samples { get; set; }

    /// <summary>Free text: which model and data they came from (written to the file, not interpreted).</summary>
    public string? Source { get; set; }

    /// <summary>Set in the file of one shard of a sharded run (<c>calibrate --shard</c>); null for a whole run or a merge.</summary>
    public CalibrationShard? Shard { get; set; }

    public IReadOnlyDictionary<string, TensorStatistics> Tensors => _tensors;
    public int Count => _tensors.Count;

    public TensorStatistics this[string name] => _tensors.TryGetValue(name, out var t)
        ? t
        : throw new OnnxQuantException($"No calibration statistics for tensor '{name}'" + (Source is null ? "." : $" in {Source}.")
            + " Calibrate again after the passes that renamed or created it, or check the name.");

    public bool TryGet(string name, out TensorStatistics statistics) => _tensors.TryGetValue(name, out statistics!);

    public void Add(TensorStatistics statistics)
    {
        if (!_tensors.TryAdd(statistics.Name, statistics))
            throw new ArgumentException($"Statistics for '{statistics.Name}' are already present.", nameof(statistics));
    }

    /// <summary>Adds another shard (other samples of the same model): tensors in both merge, the rest are copied.</summary>
    public void Merge(CalibrationStatistics other)
    {
        foreach (var (name, t) in other._tensors)
        {
            if (_tensors.TryGetValue(name, out var mine)) mine.Merge(t);
            else _tensors[name] = t.Clone();
        }
        Samples += other.Samples;
    }

    public void Save(string path) => StatisticsJson.Save(this, path);
    public static CalibrationStatistics Load(string path) => StatisticsJson.Load(path);
    public string ToJson() => StatisticsJson.Write(this);
    public static CalibrationStatistics FromJson(string json, string source = "<json>") => StatisticsJson.Read(json, source);
}
