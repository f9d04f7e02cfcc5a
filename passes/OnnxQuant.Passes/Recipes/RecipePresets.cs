using OnnxQuant.Ir;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace OnnxQuant.Passes.Recipes;

/// <summary>
/// Built-in recipes: the <c>models/recipes/*.yaml</c> files installed next to the program (the command-line project
/// copies them to its output folder and into the tool package). Found relative to the program, never the working
/// directory, so <c>--recipe cleanup</c> works wherever the user runs it.
/// </summary>
public static class RecipePresets
{
    /// <summary>Where presets are installed: <c>models/recipes</c> beside the program.</summary>
    public static string DefaultDirectory => Path.Combine(AppContext.BaseDirectory, "models", "recipes");

    /// <summary>Presets in name order. A preset whose YAML is broken is still listed, with the problem as its description.</summary>
    public static IReadOnlyList<PresetInfo> List(string? directory = null)
    {
        directory ??= DefaultDirectory;
        if (!Directory.Exists(directory)) return [];
        return Directory.EnumerateFiles(directory, "*.yaml")
            .Select(path => new PresetInfo(Path.GetFileNameWithoutExtension(path), ReadDescription(path), path))
            .OrderBy(p => p.Name, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>
    /// The recipe file <paramref name="spec"/> names: the file itself when it exists (relative to the working
    /// directory), else the preset of that name (<c>.yaml</c> optional), else a user error listing the presets.
    /// </summary>
    public static string Resolve(string spec, string? directory = null) => File.Exists(spec) ? spec : ResolvePreset(spec, directory);

    /// <summary>The file of the preset named <paramref name="spec"/> (<c>.yaml</c> optional), else a user error listing the presets.</summary>
    public static string ResolvePreset(string spec, string? directory = null)
    {
        directory ??= DefaultDirectory;
        var presets = List(directory);
        string name = spec.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) ? spec[..^5] : spec;
        bool plainName = name.Length > 0 && name.IndexOfAny(['/', '\\']) < 0;
        if (plainName && presets.FirstOrDefault(p => p.Name == name) is { } preset) return preset.Path;
        string available = presets.Count == 0
            ? $"No presets are installed (looked in {directory})."
            : $"Presets: {string.Join(", ", presets.Select(p => p.Name))} (`onnxquant recipes` describes them).";
        throw new OnnxQuantException(
            $"No recipe file '{spec}' and no preset named '{name}'.{NameSuggestions.DidYouMean(name, presets.Select(p => p.Name))} {available}");
    }

    private static string? ReadDescription(string path)
    {
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(File.ReadAllText(path)));
            if (stream.Documents.Count > 0 && stream.Documents[0].RootNode is YamlMappingNode root &&
                root.Children.TryGetValue(new YamlScalarNode("description"), out var d) && d is YamlScalarNode s)
                return s.Value;
            return null;
        }
        catch (Exception e) when (e is YamlException or IOException or UnauthorizedAccessException)
        {
            return $"(cannot be read: {e.Message})";
        }
    }
}
