using OnnxQuant.Passes;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Runtime.Calibration;

namespace OnnxQuant;

/// <summary>Everything <see cref="Quantizer.Quantize(string, string, QuantizeOptions, CancellationToken)"/> needs besides the model and output path.</summary>
public sealed record QuantizeOptions
{
    /// <summary>The recipe: <c>RecipeSource.Preset("w8a8")</c>, a file, YAML text, or a string as <c>--recipe</c> takes it.</summary>
    public required RecipeSource Recipe { get; init; }

    /// <summary>Calibration data and overrides of the recipe's <c>calibration:</c> section; null keeps the recipe's.</summary>
    public CalibrationData? Calibration { get; init; }

    /// <summary>Seed for anything random in the passes, the noise of sampler calibration data (<c>sampler:FILE</c>) and the
    /// provenance metadata (<c>--seed</c>).</summary>
    public int Seed { get; init; }

    /// <summary>Calibration progress (samples done, throughput, time left), reported as calibration runs.</summary>
    public IProgress<CalibrationProgress>? Progress { get; init; }

    /// <summary>Each pass run, reported when it finishes (name, round, changed or not, time).</summary>
    public IProgress<PassRun>? PassProgress { get; init; }

    /// <summary>The passes' messages (what calibration read, what stayed float and why…).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Called once the recipe is loaded and checked, before the model is read.</summary>
    public Action<Recipe>? RecipeLoaded { get; init; }

    /// <summary>Verify the IR before the first pass and after every pass (<c>--verify-each</c>).</summary>
    public bool VerifyEach { get; init; }

    /// <summary>Pass names whose every run prints the IR to <see cref="IrSink"/> (<c>--print-ir-after</c>).</summary>
    public IReadOnlyList<string> PrintIrAfter { get; init; } = [];

    /// <summary>Where <see cref="PrintIrAfter"/> dumps go (default: nowhere).</summary>
    public Action<string>? IrSink { get; init; }

    /// <summary>Write large tensors to OUT.data beside OUT (<c>--external-data</c>); above 2 GB, or for a model read with external data (<see cref="OnnxQuant.Ir.Model.Streams"/>), this happens anyway.</summary>
    public bool ExternalData { get; init; }

    /// <summary>Write every quantized tensor's scale, zero point, bits and granularity as JSON here (<c>--save-params</c>).</summary>
    public string? SaveParametersTo { get; init; }

    /// <summary>
    /// Settings for the recipe's <c>auto-precision</c> step (<c>--target</c>, <c>--max-latency</c>, <c>--max-minutes</c>,
    /// <c>--labels</c>, <c>--keys</c>); null keeps the recipe's. Given to a recipe without that step, it is refused.
    /// </summary>
    public Passes.Quantization.AutoPrecision.AutoPrecisionSettings? AutoPrecision { get; init; }

    /// <summary>The passes recipes may name (default: the built-in ones).</summary>
    public PassRegistry? Registry { get; init; }

    /// <summary>Where presets are (default: <c>models/recipes</c> beside the program; the package copies them there).</summary>
    public string? PresetDirectory { get; init; }
}
