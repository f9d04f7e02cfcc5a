using System.Security.Cryptography;
using YamlDotNet.RepresentationModel;

namespace OnnxQuant.Passes.Recipes;

/// <summary>
/// A loaded recipe: a name, a description, the pipeline, and the sections later stages read (kept as YAML until
/// their owners parse them). Load with <see cref="RecipeLoader"/>.
/// </summary>
public sealed class Recipe
{
    public Recipe(string name, string? description, string source, IReadOnlyList<PipelineStep> steps,
        YamlMappingNode? calibration = null, YamlMappingNode? quantization = null)
    {
        Name = name;
        Description = description;
        Source = source;
        Steps = steps;
        Calibration = calibration;
        Quantization = quantization;
    }

    public string Name { get; }
    public string? Description { get; }

    /// <summary>The file the recipe was read from (or the name given to text parsed directly).</summary>
    public string Source { get; }

    /// <summary>
    /// SHA-256 (lowercase hex) of the recipe as read: the file's bytes, or the UTF-8 of text parsed directly. The
    /// provenance metadata records it; null for a recipe built in code.
    /// </summary>
    public string? Sha256 { get; init; }

    /// <summary>The <c>passes:</c> section, checked: every pass exists, options are typed, preconditions hold.</summary>
    public IReadOnlyList<PipelineStep> Steps { get; }

    /// <summary>The <c>calibration:</c> section, unparsed.</summary>
    public YamlMappingNode? Calibration { get; }

    /// <summary>The <c>quantization:</c> section, unparsed.</summary>
    public YamlMappingNode? Quantization { get; }

    /// <summary>Every pass of the pipeline in order, groups flattened.</summary>
    public IEnumerable<PassStep> Passes => Steps.SelectMany(s => s.Passes);

    internal static string Sha256Of(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
