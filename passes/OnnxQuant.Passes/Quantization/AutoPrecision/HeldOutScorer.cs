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

    /// <param name="chunkBytes">The most float tensor bytes one comparison run exposes per model (<see cref="DefaultChunkBytes"/>).</param>
    /// <param name="floatCacheBytes">The most float tensor bytes kept between comparisons (<see cref="DefaultFloatCacheBytes"/>).</param>
    public HeldOutScorer(Model floatModel, IReadOnlyList<HeldOutSample> samples, TargetMetric metric, string? labels, string? keys, RunnerOptions runner,
        long chunkBytes = DefaultChunkBytes, long floatCacheBytes = DefaultFloatCacheBytes)
    {
        _chunkBytes = chunkBytes;
        _floatCacheBytes = floatCacheBytes;
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

    /// <summary>
    /// Element counts of <paramref name="tensors"/> in <paramref name="model"/> on the first held-out sample (shapes may
    /// be free). Read without copying, <see cref="SizingBatch"/> tensors per run, so a large model's activations are
    /// never all exposed at once; remembered for <see cref="TensorSqnr(Model, Model, IReadOnlyDictionary{string, string})"/>'s chunks.
    /// </summary>
    public Dictionary<string, long> ElementCounts(Model model, IReadOnlyList<string> tensors)
    {
        var known = ProducedNames(model);
        var wanted = tensors.Where(known.Contains).Concat(_outputs).Distinct(StringComparer.Ordinal).ToList();
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var batch in wanted.Where(n => !_sizes.ContainsKey(n)).Chunk(SizingBatch))
        {
            var exposed = batch.Where(n => !_outputs.Contains(n)).ToList();
            using var runner = ModelRunner.FromModel(model, _runner, exposed);
            SampleRuns++;
            runner.Run(_samples[0].Feeds, batch, (name, _, dims, _) =>
            {
                long count = 1;
                foreach (long d in dims) count *= d;
                _sizes[name] = count;
            });
        }
        foreach (string n in wanted) counts[n] = _sizes[n];
        return counts;
    }

    /// <summary>The names of the tensors <paramref name="model"/>'s nodes compute (the ones a run can expose).</summary>
    private static HashSet<string> ProducedNames(Model model) =>
        model.Graph.Nodes.SelectMany(n => n.Outputs).Where(v => v?.Name is not null).Select(v => v!.Name!).ToHashSet(StringComparer.Ordinal);

    /// <summary>Tensors exposed per run while sizing them (the largest U-Net activations are ~256 MiB each).</summary>
    private const int SizingBatch = 16;

    /// <summary>Element counts of the float model's tensors on the first sample, by name (filled by <see cref="ElementCounts"/>).</summary>
    private readonly Dictionary<string, long> _sizes = new(StringComparer.Ordinal);

    /// <summary>Forward passes of one held-out sample so far (any model, any exposed tensors): what the scorer cost.</summary>
    public long SampleRuns { get; private set; }

    /// <summary>The held-out samples this scorer measures on.</summary>
    public int Count => _samples.Count;

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
    /// <remarks>
    /// Streams: one sample at a time, and the tensors in chunks of at most the chunk budget (<see cref="DefaultChunkBytes"/>; by their sizes on
    /// the first sample), so memory is bounded by a chunk, not by the model's activations times the samples (the
    /// taef2 encoder held 6.6 GB at 256×256 when every tensor of every sample was kept; a 1024×1024 U-Net would hold
    /// 16× that). The float tensors are kept between calls only while all of them fit in the cache budget (<see cref="DefaultFloatCacheBytes"/>).
    /// </remarks>
    public Dictionary<string, double> TensorSqnr(Model floatModel, Model quantized, IReadOnlyDictionary<string, string> pairs)
    {
        var inFloat = ProducedNames(floatModel);
        var inQuant = ProducedNames(quantized);
        var usable = pairs.Where(p => inFloat.Contains(p.Value) && inQuant.Contains(p.Key) && !_outputs.Contains(p.Value) && !_outputs.Contains(p.Key))
            .OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        var floatNames = usable.Select(p => p.Value).Distinct(StringComparer.Ordinal).ToList();
        ElementCounts(floatModel, floatNames);

        bool cached = _floatCache is { } c && ReferenceEquals(_floatCacheModel, floatModel) && floatNames.All(c.Names.Contains);
        if (!cached && _samples.Count * floatNames.Sum(n => 4 * _sizes[n]) <= _floatCacheBytes)
        {
            // Small enough to keep for every later round: compute all of them once.
            _floatCache = (floatNames.ToHashSet(StringComparer.Ordinal), RunAll(floatModel, floatNames).Extra);
            _floatCacheModel = floatModel;
            cached = true;
        }

        var stats = new Dictionary<string, ErrorStatistics>(StringComparer.Ordinal);
        foreach (var chunk in Chunks(usable))
        {
            var chunkFloat = chunk.Select(p => p.Value).Distinct(StringComparer.Ordinal).ToList();
            var chunkQuant = chunk.Select(p => p.Key).ToList();
            using var floatRunner = cached ? null : ModelRunner.FromModel(floatModel, _runner, chunkFloat);
            using var quantRunner = ModelRunner.FromModel(quantized, _runner, chunkQuant);
            for (int s = 0; s < _samples.Count; s++)
            {
                SampleRuns += cached ? 1 : 2;
                var reference = cached ? _floatCache!.Value.Values[s] : Copy(floatRunner!, _samples[s].Feeds, chunkFloat);
                var floatOf = chunk.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
                quantRunner.Run(_samples[s].Feeds, chunkQuant, (name, type, _, data) =>
                {
                    if (!FloatValues.IsComparable(type) || !reference.TryGetValue(floatOf[name], out var a)) return;
                    var b = FloatValues.Of(type, data);
                    if (a.Length != b.Length) return;
                    if (!stats.TryGetValue(name, out var st)) stats[name] = st = new ErrorStatistics();
                    st.Add(a, b);
                });
            }
        }
        return stats.ToDictionary(e => e.Key, e => e.Value.SqnrDb, StringComparer.Ordinal);
    }

    /// <summary>The pairs in runs of at most the chunk budget of float tensors (at least one pair each).</summary>
    private IEnumerable<List<KeyValuePair<string, string>>> Chunks(List<KeyValuePair<string, string>> pairs)
    {
        var chunk = new List<KeyValuePair<string, string>>();
        long bytes = 0;
        foreach (var p in pairs)
        {
            long size = 4 * _sizes[p.Value];
            if (chunk.Count > 0 && bytes + size > _chunkBytes)
            {
                yield return chunk;
                chunk = [];
                bytes = 0;
            }
            chunk.Add(p);
            bytes += size;
        }
        if (chunk.Count > 0) yield return chunk;
    }

    /// <summary>The most float tensor bytes one comparison run exposes per model, by default (512 MiB).</summary>
    public const long DefaultChunkBytes = 512L << 20;

    private readonly long _chunkBytes;

    /// <summary>The most memory the float model's exposed tensors are kept in between rounds, by default (256 MiB).</summary>
    public const long DefaultFloatCacheBytes = 256L << 20;

    private readonly long _floatCacheBytes;

    private (HashSet<string> Names, List<Dictionary<string, float[]>> Values)? _floatCache;
    private Model? _floatCacheModel;

    /// <summary>One run's <paramref name="names"/> copied out as floats (non-float tensors are left out).</summary>
    private static Dictionary<string, float[]> Copy(ModelRunner runner, IReadOnlyDictionary<string, Tensor> feeds, IReadOnlyList<string> names)
    {
        var values = new Dictionary<string, float[]>(StringComparer.Ordinal);
        runner.Run(feeds, names, (name, type, _, data) =>
        {
            if (FloatValues.IsComparable(type)) values[name] = FloatValues.Of(type, data).ToArray();
        });
        return values;
    }


    private (List<Dictionary<string, float[]>> Outputs, List<Dictionary<string, float[]>> Extra) RunAll(Model model, IReadOnlyList<string> extra)
    {
        var known = ProducedNames(model);
        var exposed = extra.Where(n => known.Contains(n) && !_outputs.Contains(n)).Distinct().ToList();
        using var runner = ModelRunner.FromModel(model, _runner, exposed);
        var names = _outputs.Concat(exposed).ToList();
        var outputs = new List<Dictionary<string, float[]>>();
        var tensors = new List<Dictionary<string, float[]>>();
        foreach (var sample in _samples)
        {
            SampleRuns++;
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
