using System.Security.Cryptography;
using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Passes.Recipes;

/// <summary>
/// Records in the output's metadata how it was made: tool version, recipe name and SHA-256 of its text, seed, and
/// what calibration saw. Nothing time- or machine-dependent goes in, so the same input, recipe and seed still give
/// byte-identical output.
/// </summary>
public static class Provenance
{
    public const string Prefix = "onnxquant.";

    public static void Record(Model model, Recipe recipe, PassContext context)
    {
        var entries = new List<KeyValuePair<string, string>>
        {
            new(Prefix + "version", typeof(Provenance).Assembly.GetName().Version?.ToString(3) ?? "0.0.0"),
            new(Prefix + "recipe", recipe.Name),
            new(Prefix + "recipe_sha256", recipe.Sha256 ?? Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(recipe.Source)))),
            new(Prefix + "seed", context.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        };
        if (context.GetAnalysis<CalibrationStatistics>() is { } stats)
        {
            var settings = context.GetAnalysis<CalibrationSettings>();
            entries.Add(new(Prefix + "calibration", $"{stats.Samples} samples of {DataName(settings)}, {stats.Count} tensors"));
        }
        // Replace what an earlier run recorded rather than piling up entries.
        model.Metadata.RemoveAll(e => e.Key.StartsWith(Prefix, StringComparison.Ordinal));
        model.Metadata.AddRange(entries);
    }

    /// <summary>The calibration data as the metadata names it: a file name, the in-memory samples' description, or the statistics file reused.</summary>
    public static string DataName(CalibrationSettings? settings) =>
        settings?.LoadFrom is { } loaded ? $"statistics from {Path.GetFileName(loaded)}" : settings?.Samples?.Description ?? Path.GetFileName(settings?.Data ?? "?");
}
