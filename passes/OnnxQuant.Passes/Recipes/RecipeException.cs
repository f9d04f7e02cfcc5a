using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Recipes;

/// <summary>A recipe that cannot be used, located as <c>file:line:column: message</c>.</summary>
public sealed class RecipeException : OnnxQuantException
{
    public RecipeException(SourceLocation location, string message, Exception? inner = null)
        : base($"{location}: {message}", inner)
    {
        Location = location;
        Detail = message;
    }

    public SourceLocation Location { get; }

    /// <summary>The message without the location prefix.</summary>
    public string Detail { get; }
}
