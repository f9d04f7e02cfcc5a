using System.Globalization;
using OnnxQuant.Ir;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Passes.Recipes;
using YamlDotNet.RepresentationModel;

namespace OnnxQuant.Passes.Calibration;

/// <summary>
/// Reads a recipe's <c>calibration:</c> section, strictly (unknown keys and wrong types are errors with their line):
/// <code>
/// calibration:
///   data: ../shared/data/images        # .npy, .npz, a folder of NAME.npy or images, or random
///   count: 32                          # default: all (256 for random)
///   skip: 0                            # pass over the first N samples (a held-out split: skip: 32 = the rest)
///   batch-size: 1
///   shuffle: false
///   seed: 0
///   memory-budget-mb: 512              # split the observed tensors into passes above this
///   shapes: { input_ids: [1, 64] }     # one sample as fed (also "1,64")
///   images: { resize-shorter-side: 256, crop: 224, scale: 0.00392156862745098,
///             mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
///             channels: rgb, layout: nchw, dtype: float, input: pixel_values }   # also resize: [h, w], crop: [h, w]
///   random: { low: -1, high: 1 }
/// </code>
/// </summary>
public static class CalibrationSection
{
    private static readonly string[] Keys = ["data", "count", "skip", "batch-size", "shuffle", "seed", "memory-budget-mb", "shapes", "images", "random"];
    private static readonly string[] ImageKeys = ["resize-shorter-side", "resize", "crop", "multiple-of", "scale", "mean", "std", "channels", "layout", "dtype", "input"];

    public static CalibrationSettings Parse(YamlMappingNode? section, string file)
    {
        var settings = new CalibrationSettings();
        if (section is null) return settings;
        var source = new DataSourceOptions();
        foreach (var (keyNode, value) in section.Children)
        {
            string key = Key(keyNode, file, Keys, "calibration");
            switch (key)
            {
                case "data": settings = settings with { Data = Text(value, file, key) }; break;
                case "count": source = source with { Count = Int(value, file, key) }; break;
                case "skip": source = source with { Skip = Int(value, file, key) }; break;
                case "batch-size": source = source with { BatchSize = Int(value, file, key) }; break;
                case "shuffle": source = source with { Shuffle = Bool(value, file, key) }; break;
                case "seed": source = source with { Seed = Int(value, file, key) }; break;
                case "memory-budget-mb": settings = settings with { MemoryBudgetBytes = (long)(Number(value, file, key) * 1024 * 1024) }; break;
                case "shapes": source = source with { Shapes = Shapes(value, file) }; break;
                case "images": source = source with { Images = Images(value, file) }; break;
                case "random":
                {
                    var r = Mapping(value, file, key);
                    var random = new RandomInputOptions();
                    foreach (var (k, v) in r.Children)
                        random = Key(k, file, ["low", "high"], "calibration.random") == "low"
                            ? random with { Low = Number(v, file, "low") }
                            : random with { High = Number(v, file, "high") };
                    source = source with { Random = random };
                    break;
                }
            }
        }
        return settings with { Source = source };
    }

    /// <summary>
    /// Image preprocessing from the command line: <c>KEY=VALUE</c> entries (repeatable <c>--image</c>) with the keys
    /// and meanings of the section's <c>images:</c> mapping; a value with commas is a list (<c>crop=224,192</c>,
    /// <c>mean=0.485,0.456,0.406</c>). Entries override <paramref name="basis"/> (the recipe's) key by key.
    /// </summary>
    public static ImagePreprocessing ParseImageOptions(IReadOnlyList<string> entries, ImagePreprocessing? basis = null)
    {
        var o = basis ?? new ImagePreprocessing();
        foreach (string entry in entries)
        {
            int eq = entry.IndexOf('=');
            if (eq <= 0 || eq == entry.Length - 1)
                throw new OnnxQuantException($"--image {entry}: expected KEY=VALUE (e.g. resize-shorter-side=256, crop=224, mean=0.485,0.456,0.406). Keys: {string.Join(", ", ImageKeys)}.");
            string key = entry[..eq].Trim();
            string[] parts = entry[(eq + 1)..].Split(',', StringSplitOptions.TrimEntries);
            YamlNode value = parts.Length == 1 ? new YamlScalarNode(parts[0]) : new YamlSequenceNode(parts.Select(v => (YamlNode)new YamlScalarNode(v)));
            try { o = Images(new YamlMappingNode(new YamlScalarNode(key), value), "--image", o); }
            catch (RecipeException e) { throw new OnnxQuantException($"--image {entry}: {e.Detail}", e); }
        }
        return o;
    }

    private static ImagePreprocessing Images(YamlNode node, string file, ImagePreprocessing? basis = null)
    {
        var o = basis ?? new ImagePreprocessing();
        foreach (var (keyNode, value) in Mapping(node, file, "images").Children)
        {
            string key = Key(keyNode, file, ImageKeys, "calibration.images");
            switch (key)
            {
                case "resize-shorter-side": o = o with { ResizeShorterSide = Int(value, file, key) }; break;
                case "resize":
                {
                    var (h, w) = Pair(value, file, key);
                    o = o with { ResizeHeight = h, ResizeWidth = w };
                    break;
                }
                case "crop":
                {
                    var (h, w) = Pair(value, file, key);
                    o = o with { CropHeight = h, CropWidth = w };
                    break;
                }
                case "multiple-of":
                {
                    int m = Int(value, file, key);
                    if (m < 1) throw Error(value, file, $"'multiple-of' is a positive size (e.g. 8); {m} is not.");
                    o = o with { MultipleOf = m };
                    break;
                }
                case "scale": o = o with { Scale = Number(value, file, key) }; break;
                case "mean": o = o with { Mean = Numbers(value, file, key) }; break;
                case "std": o = o with { Std = Numbers(value, file, key) }; break;
                case "channels": o = o with { Channels = Enum<ImageChannels>(value, file, key) }; break;
                case "layout": o = o with { Layout = Enum<ImageLayout>(value, file, key) }; break;
                case "input": o = o with { Input = Text(value, file, key) }; break;
                case "dtype":
                {
                    string t = Text(value, file, key);
                    var type = new[] { DataType.Float, DataType.Float16, DataType.Double, DataType.UInt8, DataType.Int8 }
                        .FirstOrDefault(d => d.OnnxName() == t);
                    if (type == DataType.Undefined) throw Error(value, file, $"'dtype' is one of float, float16, double, uint8, int8; '{t}' is not.");
                    o = o with { ElementType = type };
                    break;
                }
            }
        }
        return o;
    }

    private static Dictionary<string, long[]> Shapes(YamlNode node, string file)
    {
        var specs = new List<string>();
        foreach (var (k, v) in Mapping(node, file, "shapes").Children)
        {
            string name = RecipeLoader.ScalarKey(k, file, "an input name");
            string dims = v is YamlSequenceNode seq ? string.Join(",", seq.Children.Select(c => Int(c, file, name))) : Text(v, file, name);
            specs.Add($"{name}={dims}");
        }
        try { return ShapeOverrides.Parse(specs); }
        catch (OnnxQuantException e) { throw Error(node, file, e.Message); }
    }

    private static string Key(YamlNode node, string file, string[] valid, string where)
    {
        string key = RecipeLoader.ScalarKey(node, file, $"a key of '{where}'");
        if (!valid.Contains(key))
            throw Error(node, file, $"'{where}' has no key '{key}'.{NameSuggestions.DidYouMean(key, valid)} Keys: {string.Join(", ", valid)}.");
        return key;
    }

    private static YamlMappingNode Mapping(YamlNode node, string file, string key) =>
        node as YamlMappingNode ?? throw Error(node, file, $"'{key}' is a mapping (key: value lines).");

    private static string Text(YamlNode node, string file, string key) =>
        node is YamlScalarNode { Value: { } v } ? v : throw Error(node, file, $"'{key}' is a single value.");

    private static int Int(YamlNode node, string file, string key) =>
        int.TryParse(Text(node, file, key), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : throw Error(node, file, $"'{key}' is a whole number.");

    private static double Number(YamlNode node, string file, string key) =>
        double.TryParse(Text(node, file, key), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : throw Error(node, file, $"'{key}' is a number.");

    private static bool Bool(YamlNode node, string file, string key) => Text(node, file, key).ToLowerInvariant() switch
    {
        "true" => true,
        "false" => false,
        _ => throw Error(node, file, $"'{key}' is true or false."),
    };

    private static double[] Numbers(YamlNode node, string file, string key) => node is YamlSequenceNode seq
        ? seq.Children.Select(c => Number(c, file, key)).ToArray()
        : [Number(node, file, key)];

    private static (int, int) Pair(YamlNode node, string file, string key)
    {
        if (node is YamlSequenceNode { Children.Count: 2 } seq) return (Int(seq.Children[0], file, key), Int(seq.Children[1], file, key));
        if (node is YamlScalarNode) { int n = Int(node, file, key); return (n, n); }
        throw Error(node, file, $"'{key}' is a size or [height, width].");
    }

    private static T Enum<T>(YamlNode node, string file, string key) where T : struct, System.Enum
    {
        string text = Text(node, file, key);
        return System.Enum.TryParse<T>(text, ignoreCase: true, out var v) && System.Enum.IsDefined(v)
            ? v
            : throw Error(node, file, $"'{key}' is one of {string.Join(", ", System.Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}; '{text}' is not.");
    }

    private static RecipeException Error(YamlNode node, string file, string message) => new(RecipeLoader.At(node, file), message);
}
