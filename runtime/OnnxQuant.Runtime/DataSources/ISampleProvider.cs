using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.DataSources;

/// <summary>Per-sample values of some inputs, read on demand (the batching and checks are the data source's).</summary>
internal interface ISampleProvider : IDisposable
{
    /// <summary>The file or folder, for messages.</summary>
    string Description { get; }

    /// <summary>Samples available.</summary>
    int Count { get; }

    /// <summary>Input names this provider has data for.</summary>
    IReadOnlyCollection<string> Names { get; }

    SampleLayout Layout(string input);

    /// <summary>Writes the samples <paramref name="indices"/> one after another into <paramref name="destination"/>.</summary>
    void Read(string input, ReadOnlySpan<int> indices, Span<byte> destination);
}

/// <summary>Element type and dimensions of one sample of an input, and where it comes from (file, type string).</summary>
internal sealed record SampleLayout(DataType ElementType, long[] SampleDims, string Origin, string TypeDetail)
{
    public long SampleBytes => ElementType.ByteLength(SampleDims.Aggregate(1L, (a, b) => a * b));
}
