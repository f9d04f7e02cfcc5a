namespace OnnxQuant.Passes;

/// <summary>Where something was written (a recipe file, 1-based line and column), for error messages.</summary>
public sealed record SourceLocation(string File, int Line, int Column)
{
    public override string ToString() => $"{File}:{Line}:{Column}";
}
