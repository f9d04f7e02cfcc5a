namespace OnnxQuant.Ir.Serialization;

public sealed record OnnxReadOptions
{
    /// <summary>
    /// Turn Constant nodes of graphs (not function bodies, which cannot hold constants) into constant values, so every
    /// weight is found the same way whether the exporter wrote an initializer or a node. On by default.
    /// </summary>
    public bool LiftConstantNodes { get; init; } = true;

    /// <summary>Highest IR version accepted (our schema's).</summary>
    public long MaxIrVersion { get; init; } = 14;

    public static OnnxReadOptions Default { get; } = new();
}
