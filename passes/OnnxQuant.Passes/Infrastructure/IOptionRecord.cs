namespace OnnxQuant.Passes;

/// <summary>
/// A class that a pass option may hold a list of (a recipe writes each as a mapping, e.g. <c>overrides:</c> of
/// <c>insert-qdq</c>). Its settable properties follow the rules of <see cref="PassOptionInfo"/>; after binding,
/// <see cref="Problem"/> is asked, so a bad combination is reported at the mapping's YAML line.
/// </summary>
public interface IOptionRecord
{
    /// <summary>Null when the settings make sense together, else what is wrong and how to fix it.</summary>
    string? Problem();
}
