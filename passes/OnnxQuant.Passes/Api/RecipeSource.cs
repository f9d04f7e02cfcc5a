using OnnxQuant.Passes;
using OnnxQuant.Passes.Recipes;

namespace OnnxQuant;

/// <summary>
/// Which recipe <see cref="Quantizer"/> runs: a built-in preset (<see cref="Preset"/>), a YAML file (<see cref="File"/>),
/// YAML text (<see cref="Yaml"/>), or what <c>--recipe</c> takes on the command line (<see cref="FileOrPreset"/>, also
/// the implicit conversion from a string). Loading checks the recipe strictly (<see cref="RecipeLoader"/>): mistakes
/// are <see cref="RecipeException"/>s located as <c>file:line:column</c>.
/// </summary>
public sealed class RecipeSource
{
    private readonly Func<PassRegistry, string?, Recipe> _load;

    private RecipeSource(string description, Func<PassRegistry, string?, Recipe> load)
    {
        Description = description;
        _load = load;
    }

    /// <summary>What the recipe is, for messages: <c>preset w8a8</c>, a file name, …</summary>
    public string Description { get; }

    /// <summary>The built-in preset named <paramref name="name"/> (<c>w8a8</c>, <c>w4a16</c>…; <c>onnxquant recipes</c> lists them).</summary>
    public static RecipeSource Preset(string name) =>
        new($"preset {name}", (registry, presets) => RecipeLoader.Load(RecipePresets.ResolvePreset(name, presets), registry));

    /// <summary>The recipe file at <paramref name="path"/>.</summary>
    public static RecipeSource File(string path) => new(path, (registry, _) => RecipeLoader.Load(path, registry));

    /// <summary>
    /// Recipe text; <paramref name="name"/> stands for the file in error locations (<c>recipe.yaml:3:5</c>). The
    /// provenance metadata records the SHA-256 of the text's UTF-8.
    /// </summary>
    public static RecipeSource Yaml(string text, string name = "recipe.yaml") =>
        new(name, (registry, _) => RecipeLoader.Parse(text, name, registry));

    /// <summary>As <c>--recipe</c>: the file if it exists, else the preset of that name.</summary>
    public static RecipeSource FileOrPreset(string spec) =>
        new(spec, (registry, presets) => RecipeLoader.LoadFileOrPreset(spec, registry, presets));

    /// <summary>A recipe already loaded (e.g. by <see cref="RecipeLoader"/>).</summary>
    public static RecipeSource Loaded(Recipe recipe) => new(recipe.Source, (_, _) => recipe);

    public static implicit operator RecipeSource(string fileOrPreset) => FileOrPreset(fileOrPreset);

    /// <summary>Loads and checks the recipe against <paramref name="registry"/>; presets come from <paramref name="presetDirectory"/> (default: beside the program).</summary>
    public Recipe Load(PassRegistry? registry = null, string? presetDirectory = null) => _load(registry ?? PassRegistry.BuiltIn, presetDirectory);

    public override string ToString() => Description;
}
