using OnnxQuant.Ir;

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

    public PassResult Run(Model model, object options, PassContext context) => Run(model, (TOptions)options, context);

    public abstract PassResult Run(Model model, TOptions options, PassContext context);

    /// <summary>Runs with default options.</summary>
    public PassResult Run(Model model, PassContext context) => Run(model, new TOptions(), context);
}

/// <summary>Options record for passes that take none.</summary>
public sealed class NoOptions;
