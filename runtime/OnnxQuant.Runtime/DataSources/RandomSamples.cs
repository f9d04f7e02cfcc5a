using OnnxQuant.Ir;
using OnnxQuant.Runtime;

namespace OnnxQuant.Runtime.DataSources;

/// <summary>Seeded synthetic samples for every input (see <see cref="RandomInputOptions"/>).</summary>
internal sealed class RandomSamples : ISampleProvider
{
    private readonly Dictionary<string, (ModelInput Input, SampleLayout Layout, long? TokenLimit)> _inputs = new(StringComparer.Ordinal);
    private readonly RandomInputOptions _options;
    private readonly int _seed;

    public RandomSamples(IReadOnlyList<ModelInput> inputs, IReadOnlyDictionary<string, long[]> shapes, RandomInputOptions options, int count, int seed)
    {
        _options = options;
        _seed = seed;
        Count = count;
        foreach (var input in inputs)
        {
            long[] dims = shapes.TryGetValue(input.Name, out var given) ? given : input.Dims.Select(d => d.Value ?? 1).ToArray();
            if (!input.ElementType.IsFloatingPoint() && !input.ElementType.IsInteger() && input.ElementType != DataType.Bool)
                throw new OnnxQuantException($"Input '{input.Name}' is {input.ElementType.OnnxName()}; random data can only fill numbers. Give real data with --data.");
            string free = string.Join(", ", input.Dims.Select((d, k) => (d, k)).Where(t => t.d.Value is null && !shapes.ContainsKey(input.Name)).Select(t => $"{t.d}"));
            string origin = free.Length == 0 ? "random data" : $"random data (free dimensions {free} set to 1; fix them with --shape {input.Name}=…)";
            _inputs[input.Name] = (input, new SampleLayout(input.ElementType, dims, origin, "random"), SampleInputs.TokenLimit(input.Value));
        }
        // attention_mask (1 = attend) is all ones, [batch, past + sequence] unless its shape is given (SampleInputs).
        if (_inputs.TryGetValue(SampleInputs.AttentionMask, out var mask) && mask.Input.ElementType.IsInteger()
            && !shapes.ContainsKey(SampleInputs.AttentionMask) && _inputs.TryGetValue("input_ids", out var ids))
        {
            long[] idDims = ids.Layout.SampleDims.ToArray();
            long past = _inputs.Where(i => i.Key.StartsWith("past_key_values.", StringComparison.Ordinal) && i.Value.Layout.SampleDims.Length == 4)
                .Select(i => i.Value.Layout.SampleDims[2]).FirstOrDefault();
            long[] dims = [idDims[0], (idDims.Length > 1 ? idDims[1] : 1) + past];
            _inputs[SampleInputs.AttentionMask] = (mask.Input, new SampleLayout(mask.Input.ElementType, dims, "ones (attention_mask)", "random"), null);
        }
    }

    public string Description => "random data";
    public int Count { get; }
    public IReadOnlyCollection<string> Names => _inputs.Keys;

    public SampleLayout Layout(string input) => _inputs[input].Layout;

    public void Read(string input, ReadOnlySpan<int> indices, Span<byte> destination)
    {
        var (model, layout, tokenLimit) = _inputs[input];
        int size = checked((int)layout.SampleBytes);
        long n = layout.SampleDims.Aggregate(1L, (a, b) => a * b);
        int inputIndex = _inputs.Keys.ToList().IndexOf(input);
        for (int i = 0; i < indices.Length; i++)
        {
            // Each sample depends only on (seed, sample, input): passes over the data see the same values in any order.
            var random = new Random(unchecked(_seed * 1_000_003 + indices[i] * 7919 + inputIndex));
            var values = new double[n];
            var type = model.ElementType;
            if (input == SampleInputs.AttentionMask && type.IsInteger() && !_options.Ranges.ContainsKey(input))
                Array.Fill(values, 1.0);
            else if (type.IsFloatingPoint())
            {
                var (lo, hi) = _options.Ranges.TryGetValue(input, out var r) ? r : (_options.Low, _options.High);
                for (long k = 0; k < n; k++) values[k] = lo + (hi - lo) * random.NextDouble();
            }
            else
            {
                var (lo, hi) = _options.Ranges.TryGetValue(input, out var r) ? ((long)r.Low, (long)r.High)
                    : (0L, type == DataType.Bool ? 2 : tokenLimit ?? _options.IntegerHigh);
                for (long k = 0; k < n; k++) values[k] = random.NextInt64(lo, hi);
            }
            TensorConversions.FromDoubles(type, values, layout.SampleDims).RawData.Span.CopyTo(destination.Slice(i * size, size));
        }
    }

    public void Dispose() { }
}
