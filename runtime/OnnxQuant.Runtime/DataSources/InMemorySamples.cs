using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.DataSources;

/// <summary>
/// <see cref="CalibrationSamples"/> as a sample provider: checks that every sample names the same inputs with the same
/// element type and shape, then copies the raw bytes of the samples a batch asks for.
/// </summary>
internal sealed class InMemorySamples : ISampleProvider
{
    private readonly IReadOnlyList<IReadOnlyDictionary<string, Tensor>> _samples;
    private readonly Dictionary<string, SampleLayout> _layouts = new(StringComparer.Ordinal);

    public InMemorySamples(CalibrationSamples samples)
    {
        _samples = samples.Samples;
        Description = samples.Description;
        if (_samples.Count == 0) throw new OnnxQuantException($"The calibration samples ({Description}) are empty; give at least one sample.");
        foreach (var (name, tensor) in _samples[0])
        {
            if (tensor.ElementType == DataType.String)
                throw new OnnxQuantException($"Sample 0 of {Description} gives '{name}' a string tensor; calibration feeds numeric tensors only.");
            _layouts[name] = new SampleLayout(tensor.ElementType, [.. tensor.Dims], $"{Description} (input '{name}')",
                $"{tensor.ElementType.OnnxName()}{Tensor.FormatDims(tensor.Dims)} per sample");
        }
        for (int i = 1; i < _samples.Count; i++)
        {
            var sample = _samples[i];
            if (sample.Count != _layouts.Count || sample.Keys.Any(k => !_layouts.ContainsKey(k)))
                throw new OnnxQuantException($"Sample {i} of {Description} names the inputs {Quoted(sample.Keys)}, but sample 0 names {Quoted(_layouts.Keys)}. "
                    + "Give every sample the same inputs.");
            foreach (var (name, tensor) in sample)
            {
                var first = _layouts[name];
                if (tensor.ElementType != first.ElementType || !tensor.Dims.SequenceEqual(first.SampleDims))
                    throw new OnnxQuantException($"Sample {i} of {Description} gives '{name}' as {tensor}, but sample 0 gives "
                        + $"{first.ElementType.OnnxName()}{Tensor.FormatDims(first.SampleDims)}. Give every sample of an input the same type and shape.");
            }
        }
    }

    public string Description { get; }
    public int Count => _samples.Count;
    public IReadOnlyCollection<string> Names => _layouts.Keys;

    public SampleLayout Layout(string input) => _layouts[input];

    public void Read(string input, ReadOnlySpan<int> indices, Span<byte> destination)
    {
        int bytes = checked((int)_layouts[input].SampleBytes);
        for (int i = 0; i < indices.Length; i++)
            _samples[indices[i]][input].RawData.Span.CopyTo(destination.Slice(i * bytes, bytes));
    }

    /// <summary>Nothing to release: the tensors belong to the caller.</summary>
    public void Dispose() { }

    private static string Quoted(IEnumerable<string> names) => string.Join(", ", names.Order(StringComparer.Ordinal).Select(n => $"'{n}'"));
}
