namespace OnnxQuant.Ir.Serialization;

public sealed record OnnxWriteOptions
{
    /// <summary>Place every tensor of at least <see cref="SizeThreshold"/> bytes in one data file beside the model.</summary>
    public bool ExternalData { get; init; }

    /// <summary>Smallest tensor (bytes) moved to external data.</summary>
    public long SizeThreshold { get; init; } = 1024;

    /// <summary>Name of the data file, relative to the model's folder; default: the model's file name + ".data".</summary>
    public string? DataFileName { get; init; }

    /// <summary>
    /// Above this many bytes of tensor data the protobuf would pass ONNX's 2 GB limit, so external data is switched on
    /// automatically. Lowered only by tests.
    /// </summary>
    public long AutoExternalLimit { get; init; } = 2_000_000_000;

    public static OnnxWriteOptions Default { get; } = new();
}
