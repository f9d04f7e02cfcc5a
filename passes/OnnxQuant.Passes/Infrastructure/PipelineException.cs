using OnnxQuant.Ir;

namespace OnnxQuant.Passes;

/// <summary>
/// A pipeline that cannot run as written: an unmet precondition, a fixed-point group that does not converge, an
/// unknown pass name in <c>--print-ir-after</c>. The message starts with the recipe location when there is one.
/// </summary>
public sealed class PipelineException : OnnxQuantException
{
    public PipelineException(string message, SourceLocation? location = null)
        : base(location is null ? message : $"{location}: {message}")
    {
        Location = location;
        Detail = message;
    }

    public SourceLocation? Location { get; }

    /// <summary>The message without the location prefix.</summary>
    public string Detail { get; }
}
