using OnnxQuant.Ir;
using OnnxQuant.Runtime.Calibration;
using OnnxQuant.Runtime.DataSources;

namespace OnnxQuant.Passes.Calibration;

/// <summary>
/// Where the <c>calibrate</c> pass gets its data and how it runs: from a recipe's <c>calibration:</c> section
/// (<see cref="CalibrationSection"/>), overridden by the command line (<c>--data</c>, <c>--count</c>, <c>--shape</c>
/// …). The command puts it in the <see cref="PassContext"/> (<c>SetAnalysis</c>) before the pipeline runs.
/// </summary>
public sealed record CalibrationSettings
{
    /// <summary>A .npy/.npz file, a folder of NAME.npy or images, or <c>random</c>.</summary>
    public string? Data { get; init; }

    /// <summary>Samples held in memory (the library API's); they take precedence over <see cref="Data"/>.</summary>
    public CalibrationSamples? Samples { get; init; }

    public DataSourceOptions Source { get; init; } = new();

    /// <summary>See <see cref="CollectorOptions.MemoryBudgetBytes"/>.</summary>
    public long? MemoryBudgetBytes { get; init; }

    /// <summary>Block-wise calibration from the command line (<c>--block-wise</c>), over the calibrate step's option; null: the step's.</summary>
    public BlockWiseMode? BlockWise { get; init; }

    /// <summary>Statistics saved by an earlier run to reuse instead of running the model (<c>--load-calib</c>).</summary>
    public string? LoadFrom { get; init; }

    /// <summary>Where to save the collected statistics (<c>--save-calib</c>).</summary>
    public string? SaveTo { get; init; }

    public Action<CalibrationProgress>? Progress { get; init; }

    /// <summary>
    /// The run's seed (<c>--seed</c>) as the noise seed of sampler data (<c>sampler:FILE</c>), over
    /// <see cref="DataSourceOptions.Seed"/>; null keeps that. Other data (random) keeps the recipe's calibration seed,
    /// so existing outputs of <c>--data random</c> do not change with <c>--seed</c>.
    /// </summary>
    public int? SamplerSeed { get; init; }

    /// <summary>True when the data that <see cref="OpenData"/> opens is a sampling loop (<c>sampler:FILE</c>), whose
    /// <c>--count</c> and <c>--skip</c> count trajectories, not samples.</summary>
    public bool IsSamplerData(string? stepData) =>
        Samples is null && (Data ?? stepData) is { } data && OnnxQuant.Runtime.Diffusion.SamplerTrajectories.IsSamplerData(data);

    /// <summary>
    /// Opens the data to calibrate <paramref name="model"/> on: <see cref="Samples"/>, else <see cref="Data"/>, else
    /// <paramref name="stepData"/> (the calibrate step's own <c>data</c> option); none is a user error that says what
    /// data the model needs.
    /// </summary>
    public CalibrationDataSource OpenData(Model model, string? stepData)
    {
        if (Samples is not null) return CalibrationDataSource.Open(Samples, model, Source);
        string data = Data ?? stepData ?? throw new OnnxQuantException(MissingDataMessage.For(model));
        var source = SamplerSeed is { } seed && IsSamplerData(stepData) ? Source with { Seed = seed } : Source;
        return CalibrationDataSource.Open(data, model, source);
    }
}
