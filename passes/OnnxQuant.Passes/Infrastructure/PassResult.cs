namespace OnnxQuant.Passes;

/// <summary>What a pass did: whether the model changed.</summary>
public readonly record struct PassResult(bool Modified)
{
    public static PassResult Changed => new(true);
    public static PassResult Unchanged => new(false);
    public static PassResult From(bool modified) => new(modified);
}
