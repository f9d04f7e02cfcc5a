using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;

namespace OnnxQuant.Passes;

/// <summary>
/// A transformation of a model. Passes hold no state between runs: everything they need comes from the model, their
/// options and the <see cref="PassContext"/>. A pass reports whether it changed anything, so a pass manager can
/// repeat a group to a fixed point and tests can check idempotence.
/// </summary>
public interface IPass
{
    /// <summary>Kebab-case name used in recipes and on the command line (<c>fuse-layer-norm</c>).</summary>
    string Name { get; }

    /// <summary>One line for <c>onnxquant passes</c>.</summary>
    string Summary { get; }

    /// <summary>The options record type (a class with settable properties and a parameterless constructor).</summary>
    Type OptionsType { get; }

    /// <summary>
    /// Properties of the model this pass needs an earlier pass to have established (e.g. <c>qdq</c>). Checked when a
    /// pipeline is built, so a recipe with passes in the wrong order fails at load time, not half-way through.
    /// </summary>
    IReadOnlyList<string> Requires => [];

    /// <summary>Properties this pass establishes for the passes after it.</summary>
    IReadOnlyList<string> Provides => [];

    /// <summary>
    /// What this pass reads of calibration statistics, whether it collects them, and which stay valid when it changes
    /// the graph; checked when a pipeline is built (<see cref="PipelineValidator"/>) and applied after every run.
    /// </summary>
    StatisticsUse Statistics => StatisticsUse.None;

    /// <summary>
    /// <see cref="Statistics"/> under <paramref name="options"/>: a pass whose reads depend on an option (quantize-weights
    /// reads XᵀX only with <c>rounding: gptq</c>) declares them here, so the pipeline check sees that step's real use.
    /// </summary>
    StatisticsUse StatisticsFor(object options) => Statistics;

    /// <summary>
    /// For a pass that reads statistics: the values of <paramref name="model"/> (as it is when the collecting pass
    /// before this one runs) and what this pass will read of each, by identity. Only kinds in
    /// <see cref="StatisticsUse.Reads"/> may be requested.
    /// </summary>
    void RequestStatistics(Model model, object options, StatisticsRequests requests) { }

    PassResult Run(Model model, object options, PassContext context);
}

/// <summary>Convenience base: typed options, and a default options instance when none is given.</summary>
public abstract class Pass<TOptions> : IPass where TOptions : class, new()
{
    public abstract string Name { get; }
    public abstract string Summary { get; }
    public Type OptionsType => typeof(TOptions);

    /// <inheritdoc cref="IPass.Requires"/>
    public virtual IReadOnlyList<string> Requires => [];

    /// <inheritdoc cref="IPass.Provides"/>
    public virtual IReadOnlyList<string> Provides => [];

    /// <inheritdoc cref="IPass.Statistics"/>
    public virtual StatisticsUse Statistics => StatisticsUse.None;

    public StatisticsUse StatisticsFor(object options) => StatisticsFor((TOptions)options);

    /// <inheritdoc cref="IPass.StatisticsFor"/>
    public virtual StatisticsUse StatisticsFor(TOptions options) => Statistics;

    public void RequestStatistics(Model model, object options, StatisticsRequests requests) => RequestStatistics(model, (TOptions)options, requests);

    /// <inheritdoc cref="IPass.RequestStatistics"/>
    public virtual void RequestStatistics(Model model, TOptions options, StatisticsRequests requests) { }

    public PassResult Run(Model model, object options, PassContext context) => Run(model, (TOptions)options, context);

    public abstract PassResult Run(Model model, TOptions options, PassContext context);

    /// <summary>Runs with default options.</summary>
    public PassResult Run(Model model, PassContext context) => Run(model, new TOptions(), context);
}

/// <summary>Options record for passes that take none.</summary>
public sealed class NoOptions;
