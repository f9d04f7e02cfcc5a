using OnnxQuant.Ir;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Evaluation;

namespace OnnxQuant.Passes.Quantization.AutoPrecision;

/// <summary>One held-out sample: its feeds and its index in the data file (for its label).</summary>
public sealed record HeldOutSample(int Index, IReadOnlyDictionary<string, Tensor> Feeds);

/// <summary>
/// Scores a model variant on the held-out samples against the float model, by <see cref="AccuracyTarget.Metric"/>:
/// output SQNR (all outputs together, as <c>sensitivity</c>), top-1 / CTC exact match against labels, or mean PSNR of
/// the first output against the first input (as <c>eval</c>'s scorers). The float model's outputs are computed once.
/// ONNX Runtime runs with graph optimizations off, so a QDQ model computes exactly its fake-quantized graph.
/// </summary>
public sealed class HeldOutScorer
{
    private readonly IReadOnlyList<HeldOutSample> _samples;
    private readonly TargetMetric _metric;
    private readonly List<string> _outputs;
    private readonly List<Dictionary<string, float[]>> _reference;
    private long[]? _classLabels;
    private string[]? _textLabels;
    private readonly CtcDecoder? _ctc;
    private readonly RunnerOptions _runner;

    public HeldOutScorer(Model floatModel, IReadOnlyList<HeldOutSample> samples, TargetMetric metric, string? labels, string? keys, RunnerOptions runner)
    {
        if (samples.Count == 0) throw new OnnxQuantException("auto-precision: no held-out samples to measure on.");
        _samples = samples;
        _metric = metric;
        _runner = runner;
        _outputs = floatModel.Graph.Outputs.Select(o => o.Name!).ToList();
        if (metric == TargetMetric.Top1 && keys is not null) _ctc = CtcDecoder.FromKeysFile(keys);
        if (metric == TargetMetric.Top1 && labels is not null)
        {
            if (keys is not null)
            {
                if (!File.Exists(labels)) throw new OnnxQuantException($"auto-precision: the labels file {labels} does not exist (ctc labels: one text per line).");
                var lines = File.ReadAllLines(labels, System.Text.Encoding.UTF8);
                CheckCount(lines.Length, labels, samples);
                _textLabels = samples.Select(s => lines[s.Index].Trim(' ')).ToArray();
            }
            else
            {
                using var classes = ClassLabels.Open(labels);
                CheckCount(classes.Count, labels, samples);
                _classLabels = samples.Select(s => classes[s.Index]).ToArray();
            }
        }
        _reference = RunAll(floatModel, []).Outputs;
        if (metric == TargetMetric.Top1 && labels is null)
        {
            // No labels: the float model's own predictions are the labels, so the score is agreement with float.
            if (_ctc is not null) _textLabels = _reference.Select(r => _ctc.Decode(r[_outputs[0]], _classes).Trim(' ')).ToArray();
            else _classLabels = _reference.Select(r => (long)ArgMax.Of(r[_outputs[0]])).ToArray();
        }
        Labeled = labels is not null;
        FloatScore = Score(_reference);
    }

    /// <summary>The float model's own score (for a drop target; SQNR of float against itself is +∞).</summary>
    public double FloatScore { get; }

    public TargetMetric Metric => _metric;

    /// <summary>False when top-1 is scored against the float model's predictions (agreement), for want of labels.</summary>
    public bool Labeled { get; }

    private static void CheckCount(long have, string labels, IReadOnlyList<HeldOutSample> samples)
    {
        int need = samples.Max(s => s.Index) + 1;
        if (have < need) throw new OnnxQuantException($"auto-precision: {labels} holds {have} labels, but held-out sample {need - 1} needs one; give the labels of the whole data file.");
    }

    /// <summary>Element counts of <paramref name="tensors"/> in <paramref name="model"/> on the first held-out sample (shapes may be free).</summary>
    public Dictionary<string, long> ElementCounts(Model model, IReadOnlyList<string> tensors)
    {
        var known = model.Graph.Nodes.SelectMany(n => n.Outputs).Where(v => v?.Name is not null).Select(v => v!.Name!).ToHashSet(StringComparer.Ordinal);
        var exposed = tensors.Where(n => known.Contains(n) && !_outputs.Contains(n)).Distinct().ToList();
        using var runner = ModelRunner.FromModel(model, _runner, exposed);
        var values = runner.Run(_samples[0].Feeds, _outputs.Concat(exposed).ToList());
        return exposed.Concat(_outputs).Distinct().ToDictionary(n => n, n => values[n].ElementCount, StringComparer.Ordinal);
    }

    /// <summary>The score of <paramref name="model"/> on the held-out samples.</summary>
    public double Measure(Model model) => Score(RunAll(model, []).Outputs);

    /// <summary>
    /// Runs the float model and <paramref name="quantized"/> with <paramref name="tensors"/> exposed and returns each
    /// tensor's SQNR of the quantized against the float value, over all held-out samples (tensors missing from either
    /// model, or of other shapes, are left out).
    /// </summary>
    public Dictionary<string, double> TensorSqnr(Model floatModel, Model quantized, IReadOnlyList<string> tensors) =>
        TensorSqnr(floatModel, quantized, tensors.ToDictionary(t => t, t => t, StringComparer.Ordinal));

    /// <summary>
    /// As <see cref="TensorSqnr(Model, Model, IReadOnlyList{string})"/>, comparing the float tensor named by each
    /// value of <paramref name="pairs"/>' entries with the quantized tensor named by its key (e.g. a DequantizeLinear
    /// output against the float tensor it stands for); results are keyed by the quantized name.
    /// </summary>
    public Dictionary<string, double> TensorSqnr(Model floatModel, Model quantized, IReadOnlyDictionary<string, string> pairs)
    {
        var f = FloatTensors(floatModel, pairs.Values.Distinct().ToList());
        var q = RunAll(quantized, pairs.Keys.ToList()).Extra;
        var stats = new Dictionary<string, ErrorStatistics>(StringComparer.Ordinal);
        for (int s = 0; s < _samples.Count; s++)
            foreach (var (quantName, floatName) in pairs)
                if (f[s].TryGetValue(floatName, out var a) && q[s].TryGetValue(quantName, out var b) && a.Length == b.Length)
                {
                    if (!stats.TryGetValue(quantName, out var st)) stats[quantName] = st = new ErrorStatistics();
                    st.Add(a, b);
                }
        return stats.ToDictionary(e => e.Key, e => e.Value.SqnrDb, StringComparer.Ordinal);
    }

    /// <summary>
    /// The float model's values of <paramref name="tensors"/> on every held-out sample. The float model is the same in
    /// every round of the search, so they are computed once and kept while they fit in
    /// <see cref="FloatCacheBytes"/>; above that (a large model's activations) they are computed again each time.
    /// </summary>
    private List<Dictionary<string, float[]>> FloatTensors(Model floatModel, IReadOnlyList<string> tensors)
    {
        if (_floatCache is { } cached && ReferenceEquals(_floatCacheModel, floatModel) && tensors.All(t => cached.Names.Contains(t)))
            return cached.Values;
        var values = RunAll(floatModel, tensors).Extra;
        long bytes = values.Sum(d => d.Values.Sum(v => 4L * v.Length));
        if (bytes <= FloatCacheBytes)
        {
            _floatCache = (tensors.ToHashSet(StringComparer.Ordinal), values);
            _floatCacheModel = floatModel;
        }
        return values;
    }

    /// <summary>The most memory the float model's exposed tensors are kept in between rounds (256 MiB).</summary>
    public const long FloatCacheBytes = 256L << 20;

    private (HashSet<string> Names, List<Dictionary<string, float[]>> Values)? _floatCache;
    private Model? _floatCacheModel;

    private (List<Dictionary<string, float[]>> Outputs, List<Dictionary<string, float[]>> Extra) RunAll(Model model, IReadOnlyList<string> extra)
    {
        var known = model.Graph.Nodes.SelectMany(n => n.Outputs).Where(v => v?.Name is not null).Select(v => v!.Name!).ToHashSet(StringComparer.Ordinal);
        var exposed = extra.Where(n => known.Contains(n) && !_outputs.Contains(n)).Distinct().ToList();
        using var runner = ModelRunner.FromModel(model, _runner, exposed);
        var names = _outputs.Concat(exposed).ToList();
        var outputs = new List<Dictionary<string, float[]>>();
        var tensors = new List<Dictionary<string, float[]>>();
        foreach (var sample in _samples)
        {
            var values = runner.Run(sample.Feeds, names);
            if (_classes == 0 && values[_outputs[0]].Dims.Count > 0) _classes = checked((int)values[_outputs[0]].Dims[^1]);
            outputs.Add(_outputs.ToDictionary(n => n, n => FloatValues.Of(values[n]).ToArray(), StringComparer.Ordinal));
            var t = new Dictionary<string, float[]>(StringComparer.Ordinal);
            foreach (string n in exposed)
                if (FloatValues.IsComparable(values[n].ElementType)) t[n] = FloatValues.Of(values[n]).ToArray();
            tensors.Add(t);
        }
        return (outputs, tensors);
    }

    private double Score(List<Dictionary<string, float[]>> outputs)
    {
        switch (_metric)
        {
            case TargetMetric.Sqnr:
            {
                var stats = new ErrorStatistics();
                for (int s = 0; s < _samples.Count; s++)
                    foreach (string name in _outputs) stats.Add(_reference[s][name], outputs[s][name]);
                return stats.SqnrDb;
            }
            case TargetMetric.Psnr:
            {
                double sum = 0;
                for (int s = 0; s < _samples.Count; s++)
                {
                    var input = FloatValues.Of(_samples[s].Feeds.Values.First());
                    var output = outputs[s][_outputs[0]];
                    if (input.Length != output.Length)
                        throw new OnnxQuantException($"auto-precision: psnr-drop compares the first output with the first input, but they have {output.Length} and {input.Length} values; use sqnr=DB for this model.");
                    sum += Psnr.Of(input, output);
                }
                return sum / _samples.Count;
            }
            default:
            {
                int correct = 0;
                for (int s = 0; s < _samples.Count; s++)
                {
                    float[] o = outputs[s][_outputs[0]];
                    if (_ctc is not null)
                    {
                        if (_ctc.Decode(o, _classes).Trim(' ') == _textLabels![s]) correct++;
                    }
                    else if (ArgMax.Of(o) == _classLabels![s]) correct++;
                }
                return 100.0 * correct / _samples.Count;
            }
        }
    }

    /// <summary>The last dimension of the first output (classes per CTC step), from the float model's first run.</summary>
    private int _classes;
}
