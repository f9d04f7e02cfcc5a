using System.Text.RegularExpressions;
using OnnxQuant.Ir;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace OnnxQuant.Passes.Recipes;

/// <summary>
/// Reads recipes, strictly: unknown keys, unknown passes and options, values of the wrong type, and passes whose
/// preconditions the earlier passes do not provide are errors located as <c>file:line:column</c>. The format:
/// <code>
/// name: my-recipe
/// description: What it is for.
/// passes:
///   - eliminate-dead-code                  # a pass with default options
///   - upgrade-opset: {target-opset: 21}    # a pass with options (kebab-case option names)
///   - fixed-point:                         # repeat until nothing changes
///       - fold-constants
///       - eliminate-dead-code
///     max-iterations: 10                   # optional, default 20
/// calibration: { … }                       # read by the calibration stage
/// quantization: { … }                      # read by the quantization stage
/// </code>
/// </summary>
public static partial class RecipeLoader
{
    private static readonly string[] TopLevelKeys = ["name", "description", "passes", "calibration", "quantization"];
    private const string MaxIterationsKey = "max-iterations";

    /// <summary>Loads the recipe file at <paramref name="path"/>.</summary>
    public static Recipe Load(string path, PassRegistry? registry = null)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OnnxQuantException($"Cannot read recipe {path}: {e.Message}", e);
        }
        // Decoded as File.ReadAllText does (byte order mark honoured, UTF-8 otherwise); hashed as the bytes on disk.
        using var reader = new StreamReader(new MemoryStream(bytes), System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return Parse(reader.ReadToEnd(), path, registry, Recipe.Sha256Of(bytes));
    }

    /// <summary>Loads <paramref name="spec"/>: the file if it exists, else the preset of that name (see <see cref="RecipePresets.Resolve"/>).</summary>
    public static Recipe LoadFileOrPreset(string spec, PassRegistry? registry = null, string? presetDirectory = null) =>
        Load(RecipePresets.Resolve(spec, presetDirectory), registry);

    /// <summary>Parses recipe text; <paramref name="file"/> is used in error locations.</summary>
    public static Recipe Parse(string yaml, string file, PassRegistry? registry = null) =>
        Parse(yaml, file, registry, Recipe.Sha256Of(System.Text.Encoding.UTF8.GetBytes(yaml)));

    private static Recipe Parse(string yaml, string file, PassRegistry? registry, string sha256)
    {
        registry ??= PassRegistry.BuiltIn;
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new RecipeException(new SourceLocation(file, (int)e.Start.Line, (int)e.Start.Column),
                $"This is not valid YAML: {StripMarks(e)}", e);
        }
        if (stream.Documents.Count == 0)
            throw new RecipeException(new SourceLocation(file, 1, 1), "The recipe is empty. It needs at least 'name:' and 'passes:'.");
        if (stream.Documents.Count > 1)
            throw new RecipeException(At(stream.Documents[1].RootNode, file), "A recipe file holds one YAML document; this is a second one.");
        if (stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new RecipeException(At(stream.Documents[0].RootNode, file),
                "A recipe is a mapping with the keys name, passes and optionally description, calibration, quantization.");

        string? name = null, description = null;
        List<PipelineStep>? steps = null;
        YamlMappingNode? calibration = null, quantization = null;
        foreach (var (keyNode, value) in root.Children)
        {
            string key = ScalarKey(keyNode, file, "a recipe key");
            switch (key)
            {
                case "name":
                    name = ScalarText(value, file, "'name'");
                    if (name.Trim().Length == 0) throw new RecipeException(At(value, file), "'name' must not be empty.");
                    break;
                case "description":
                    description = ScalarText(value, file, "'description'");
                    break;
                case "passes":
                    if (value is not YamlSequenceNode sequence)
                        throw new RecipeException(At(value, file), "'passes' is a list of passes (write 'passes: []' for none).");
                    steps = ParseSteps(sequence, file, registry);
                    break;
                case "calibration":
                    calibration = Section(value, file, key);
                    break;
                case "quantization":
                    quantization = Section(value, file, key);
                    break;
                default:
                    throw new RecipeException(At(keyNode, file),
                        $"Unknown recipe key '{key}'.{NameSuggestions.DidYouMean(key, TopLevelKeys)} Valid keys: {string.Join(", ", TopLevelKeys)}.");
            }
        }
        if (name is null) throw new RecipeException(At(root, file), "The recipe has no 'name'.");
        if (steps is null) throw new RecipeException(At(root, file), "The recipe has no 'passes' list (write 'passes: []' for none).");
        try
        {
            PipelineValidator.Validate(steps, registry: registry);
        }
        catch (PipelineException e) when (e.Location is not null)
        {
            throw new RecipeException(e.Location, e.Detail, e);
        }
        return new Recipe(name, description, file, steps, calibration, quantization) { Sha256 = sha256 };
    }

    private static List<PipelineStep> ParseSteps(YamlSequenceNode sequence, string file, PassRegistry registry) =>
        sequence.Children.Select(item => ParseStep(item, file, registry)).ToList();

    private static PipelineStep ParseStep(YamlNode item, string file, PassRegistry registry)
    {
        switch (item)
        {
            case YamlScalarNode scalar:
            {
                string name = scalar.Value ?? "";
                if (name == FixedPointStep.RecipeKey)
                    throw new RecipeException(At(item, file), "'fixed-point' needs its passes: '- fixed-point: [pass-a, pass-b]'.");
                return new PassStep(Lookup(name, item, file, registry).Create(), null, At(item, file));
            }
            case YamlMappingNode mapping:
            {
                var keys = mapping.Children.Select(e => (Node: e.Key, Name: ScalarKey(e.Key, file, "a pass name"))).ToList();
                if (keys.Any(k => k.Name == FixedPointStep.RecipeKey)) return ParseGroup(mapping, file, registry);
                if (keys.Count != 1)
                {
                    string hint = keys.Count > 1 && !registry.TryGet(keys[1].Name, out _)
                        ? $" If '{keys[1].Name}' is an option of '{keys[0].Name}', indent it under '{keys[0].Name}:' (or write '- {keys[0].Name}: {{{keys[1].Name}: …}}')."
                        : " Write each pass as its own list item.";
                    throw new RecipeException(At(item, file),
                        $"A pass item names one pass, with its options below it; this one has {keys.Count} keys ({string.Join(", ", keys.Select(k => k.Name))}).{hint}");
                }
                var (keyNode, passName) = keys[0];
                var info = Lookup(passName, keyNode, file, registry);
                var value = mapping.Children[keyNode];
                YamlMappingNode? options = value switch
                {
                    YamlMappingNode m => m,
                    YamlScalarNode { Value: null or "" } => null,
                    _ => throw new RecipeException(At(value, file),
                        $"The options of '{passName}' are a mapping 'option: value'" +
                        (info.Options.Count == 0 ? $", and '{passName}' takes none." : $" (its options: {string.Join(", ", info.Options.Select(o => o.Name))})."))
                };
                return new PassStep(info.Create(), OptionBinder.Bind(info, options, file), At(keyNode, file));
            }
            default:
                throw new RecipeException(At(item, file), "A pass item is a pass name, 'name: {options}', or 'fixed-point: [passes]'.");
        }
    }

    private static FixedPointStep ParseGroup(YamlMappingNode mapping, string file, PassRegistry registry)
    {
        YamlSequenceNode? passes = null;
        YamlNode? groupKey = null;
        int maxIterations = FixedPointStep.DefaultMaxIterations;
        foreach (var (keyNode, value) in mapping.Children)
        {
            string key = ScalarKey(keyNode, file, "a fixed-point key");
            if (key == FixedPointStep.RecipeKey)
            {
                groupKey = keyNode;
                passes = value as YamlSequenceNode
                    ?? throw new RecipeException(At(value, file), "'fixed-point' takes a list of passes: '- fixed-point: [pass-a, pass-b]'.");
                if (passes.Children.Count == 0) throw new RecipeException(At(value, file), "A fixed-point group needs at least one pass.");
            }
            else if (key == MaxIterationsKey)
            {
                if (value is not YamlScalarNode { Style: ScalarStyle.Plain } s || !int.TryParse(s.Value, out maxIterations) || maxIterations < 1)
                    throw new RecipeException(At(value, file), "'max-iterations' is a positive int.");
            }
            else
            {
                throw new RecipeException(At(keyNode, file),
                    $"A fixed-point group takes only '{MaxIterationsKey}' beside its passes, not '{key}'. Each pass is a list item under 'fixed-point:'.");
            }
        }
        return new FixedPointStep(ParseSteps(passes!, file, registry), maxIterations, At(groupKey!, file));
    }

    private static PassInfo Lookup(string name, YamlNode node, string file, PassRegistry registry) =>
        registry.TryGet(name, out var info) ? info : throw new RecipeException(At(node, file), registry.UnknownPassMessage(name));

    private static YamlMappingNode Section(YamlNode value, string file, string key) =>
        value as YamlMappingNode ?? throw new RecipeException(At(value, file), $"'{key}' is a mapping of settings.");

    internal static string ScalarKey(YamlNode node, string file, string what) =>
        node is YamlScalarNode { Value: { Length: > 0 } v } ? v
            : throw new RecipeException(At(node, file), $"Expected {what} (a plain word) here.");

    private static string ScalarText(YamlNode node, string file, string what) =>
        node is YamlScalarNode s ? s.Value ?? "" : throw new RecipeException(At(node, file), $"{what} is a single line of text.");

    internal static SourceLocation At(YamlNode node, string file) => new(file, (int)node.Start.Line, (int)node.Start.Column);

    /// <summary>YamlDotNet prefixes messages with "(Line: 1, Col: 2, Idx: 3) - (…): "; the location is ours to write.</summary>
    private static string StripMarks(YamlException e) => MarkPrefix().Replace(e.Message, "");

    [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\): ")]
    private static partial Regex MarkPrefix();
}
