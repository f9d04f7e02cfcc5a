namespace OnnxQuant.Passes.Recipes;

/// <summary>A built-in recipe: its name (the file name without <c>.yaml</c>), description and file.</summary>
public sealed record PresetInfo(string Name, string? Description, string Path);
