using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Runtime.Calibration.Statistics;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Passes.Recipes;

namespace OnnxQuant;

/// <summary>
/// The library entry point, what <c>quantize_static(model, out, calibration_data_reader)</c> is to ONNX Runtime's
/// Python users: a model in, a recipe, calibration data (samples in memory, a file or folder, or saved statistics),
/// a quantized model written out. The <c>onnxquant IN OUT --recipe R</c> command is a front end to it, so the same
/// input, recipe, data and seed give the same bytes from either.
/// </summary>
/// <remarks>
/// <para>Order, so that a mistake costs as little as possible: the output paths are checked (not the input, not a
/// folder, the folder accepts files), then the recipe is loaded
/// and checked, then the model is read, then a static recipe without data is refused, then the passes run, and only
/// then is the output written — to a temporary file renamed into place, so a failure or cancellation leaves nothing.</para>
/// <para>Errors are the command line's: <see cref="OnnxQuantException"/> for bad input (its message says what, where
/// and how to fix), <see cref="RecipeException"/> for recipe mistakes (<c>file:line:column</c>),
/// <see cref="PassFailedException"/> when a pass fails (naming it), <see cref="OperationCanceledException"/> on
/// cancellation.</para>
/// </remarks>
public static class Quantizer
{
    /// <summary>Quantizes the model file <paramref name="modelPath"/> and writes the result to <paramref name="outputPath"/>.</summary>
    public static QuantizationResult Quantize(string modelPath, string outputPath, QuantizeOptions options, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        string input = Path.GetFullPath(modelPath);
        CheckOutputs(outputPath, options, input);
        var recipe = LoadRecipe(options);
        using var model = OnnxReader.Read(input);
        return Run(model, new FileInfo(input).Length, outputPath, recipe, options, cancellation);
    }

    /// <summary>
    /// Quantizes <paramref name="model"/> in place (the caller keeps and disposes it) and writes it to
    /// <paramref name="outputPath"/>.
    /// </summary>
    public static QuantizationResult Quantize(Model model, string outputPath, QuantizeOptions options, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        CheckOutputs(outputPath, options);
        return Run(model, null, outputPath, LoadRecipe(options), options, cancellation);
    }

    /// <summary>Every file the run will write is checked before any work: not an input, not a folder, in a folder that accepts files.</summary>
    private static void CheckOutputs(string outputPath, QuantizeOptions options, params string[] inputs)
    {
        OutputPath.Check(outputPath, "The output", inputs);
        if (options.Calibration?.SaveStatisticsTo is { } statistics) OutputPath.Check(statistics, "SaveStatisticsTo", inputs);
        if (options.SaveParametersTo is { } parameters) OutputPath.Check(parameters, "SaveParametersTo", inputs);
    }

    private static Recipe LoadRecipe(QuantizeOptions options)
    {
        var registry = options.Registry ?? PassRegistry.BuiltIn;
        var recipe = options.Recipe.Load(registry, options.PresetDirectory);
        foreach (string name in options.PrintIrAfter)
            if (!registry.TryGet(name, out _))
                throw new OnnxQuantException("--print-ir-after: " + registry.UnknownPassMessage(name));
        options.RecipeLoaded?.Invoke(recipe);
        return recipe;
    }

    private static QuantizationResult Run(Model model, long? inputBytes, string outputPath, Recipe recipe, QuantizeOptions options, CancellationToken cancellation)
    {
        string output = Path.GetFullPath(outputPath);
        var manager = new PassManager(recipe.Steps, registry: options.Registry ?? PassRegistry.BuiltIn)
        {
            VerifyEach = options.VerifyEach,
            PrintIrAfter = options.PrintIrAfter,
            IrSink = options.IrSink,
            PassFinished = options.PassProgress is { } passes ? passes.Report : null,
        };
        var before = ModelStatistics.Of(model, inputBytes);
        var context = new PassContext(options.Seed, cancellation, options.Log);
        var calibration = CalibrationSettingsFor(recipe, options.Calibration) with
        {
            // The sampler's noise follows the run's seed (calibrate with one seed, evaluate with another).
            SamplerSeed = options.Seed,
            Progress = options.Progress is { } progress ? progress.Report : null,
        };
        // A static recipe without data fails now, not after the passes before calibrate have run.
        if (calibration.Data is null && calibration.Samples is null && calibration.LoadFrom is null &&
            recipe.Passes.FirstOrDefault(p => p.Pass is CalibratePass) is { Options: CalibrateOptions { Data: null } })
            throw new OnnxQuantException(MissingDataMessage.For(model, recipe.Name));
        context.SetAnalysis(calibration);
        if (options.AutoPrecision is { IsEmpty: false } auto)
        {
            if (!recipe.Passes.Any(p => p.Pass is Passes.Quantization.AutoPrecision.AutoPrecisionPass or Passes.Quantization.Diffusion.DiffusionAutoPrecisionPass))
                throw new OnnxQuantException($"--target, --max-latency, --max-minutes, --labels and --keys set the auto-precision step, and recipe '{recipe.Name}' has none; "
                    + "use --recipe w8a8-auto (or w4a8-auto; w8a8-diffusion-auto for a denoiser), or add an auto-precision step to the recipe.");
            context.SetAnalysis(auto);
        }
        var pipeline = manager.Run(model, context);
        Provenance.Record(model, recipe, context);

        // A model read with external data (one that may be larger than memory: Model.Streams) is written with external
        // data too, which the writer streams; an inline protobuf is built whole in memory before it is written.
        bool externalData = options.ExternalData || model.Streams;
        bool external = externalData || OnnxWriter.TotalTensorBytes(model) > OnnxWriteOptions.Default.AutoExternalLimit;
        OnnxWriter.Write(model, output, new OnnxWriteOptions { ExternalData = externalData });
        if (options.SaveParametersTo is { } parameters) QuantizationParametersReport.Save(model, parameters);
        long written = new FileInfo(output).Length;
        string dataPath = output + ".data";
        bool wroteData = external && File.Exists(dataPath);
        if (wroteData) written += new FileInfo(dataPath).Length;

        var statistics = context.GetAnalysis<CalibrationStatistics>();
        return new QuantizationResult
        {
            Recipe = recipe,
            OutputPath = output,
            ExternalDataPath = wroteData ? dataPath : null,
            Before = before,
            After = ModelStatistics.Of(model, written),
            Pipeline = pipeline,
            Counters = new Dictionary<string, long>(context.Counters, StringComparer.Ordinal),
            Misses = context.Misses,
            Calibration = statistics is null ? null : new CalibrationSummary(statistics.Samples, statistics.Count,
                Provenance.DataName(calibration), statistics, context.GetAnalysis<CalibrationResult>()),
            Provenance = model.Metadata.Where(e => e.Key.StartsWith(Provenance.Prefix, StringComparison.Ordinal)).ToList(),
        };
    }

    /// <summary>The recipe's calibration section with the caller's choices on top, for the calibrate pass.</summary>
    private static CalibrationSettings CalibrationSettingsFor(Recipe recipe, CalibrationData? data)
    {
        var settings = CalibrationSection.Parse(recipe.Calibration, recipe.Source);
        if (data is null) return settings;
        return settings with
        {
            Data = data.Path ?? settings.Data,
            Samples = data.Samples,
            SaveTo = data.SaveStatisticsTo ?? settings.SaveTo,
            LoadFrom = data.LoadStatisticsFrom ?? settings.LoadFrom,
            BlockWise = data.BlockWise ?? settings.BlockWise,
            Source = settings.Source with
            {
                Count = data.Count ?? settings.Source.Count,
                Skip = data.Skip ?? settings.Source.Skip,
                Images = CalibrationSection.ParseImageOptions(data.Image, settings.Source.Images),
                Shapes = data.Shapes is { Count: > 0 } shapes ? shapes : settings.Source.Shapes,
            },
        };
    }
}
