namespace OnnxQuant.Passes;

/// <summary>What the registry knows about a pass without running it: name, summary, options and conditions.</summary>
public sealed class PassInfo
{
    private readonly Func<IPass> _factory;

    internal PassInfo(IPass sample, Func<IPass> factory)
    {
        _factory = factory;
        Name = sample.Name;
        Summary = sample.Summary;
        OptionsType = sample.OptionsType;
        Requires = sample.Requires.ToArray();
        Provides = sample.Provides.ToArray();
        Statistics = sample.Statistics;
        Options = PassOptionInfo.For(OptionsType);
    }

    public string Name { get; }
    public string Summary { get; }
    public Type OptionsType { get; }
    public IReadOnlyList<string> Requires { get; }
    public IReadOnlyList<string> Provides { get; }

    /// <summary>What the pass reads, collects and preserves of calibration statistics.</summary>
    public StatisticsUse Statistics { get; }
    public IReadOnlyList<PassOptionInfo> Options { get; }

    /// <summary>A new instance of the pass (passes keep no state, but instances are never shared between pipelines).</summary>
    public IPass Create() => _factory();

    /// <summary>A fresh options object with every option at its default.</summary>
    public object CreateDefaultOptions() => Activator.CreateInstance(OptionsType)!;

    public override string ToString() => Name;
}
