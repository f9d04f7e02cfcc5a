namespace OnnxQuant.Passes;

/// <summary>A pass with its options.</summary>
public sealed class PassStep : PipelineStep
{
    /// <param name="pass">The pass to run.</param>
    /// <param name="options">An instance of <see cref="IPass.OptionsType"/>; null means the defaults.</param>
    /// <param name="location">Where a recipe named this pass.</param>
    public PassStep(IPass pass, object? options = null, SourceLocation? location = null) : base(location)
    {
        Pass = pass;
        Options = options ?? Activator.CreateInstance(pass.OptionsType)
            ?? throw new ArgumentException($"Cannot create default options for pass '{pass.Name}'.");
        if (!pass.OptionsType.IsInstanceOfType(Options))
            throw new ArgumentException(
                $"Pass '{pass.Name}' takes {pass.OptionsType.Name}, not {Options.GetType().Name}.", nameof(options));
    }

    public IPass Pass { get; }

    /// <summary>What this step does with calibration statistics under its options (<see cref="IPass.StatisticsFor"/>).</summary>
    public StatisticsUse Statistics => Pass.StatisticsFor(Options);
    public object Options { get; }
    public string Name => Pass.Name;

    public override IEnumerable<PassStep> Passes => [this];

    public override string ToString() => Name;
}
