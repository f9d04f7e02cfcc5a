using OnnxQuant.Ir;

namespace OnnxQuant.Passes;

/// <summary>
/// The passes a recipe or the command line can name. <see cref="BuiltIn"/> holds the list in
/// <see cref="BuiltInPasses"/>; tests build their own registries with test passes.
/// </summary>
public sealed class PassRegistry
{
    private readonly List<PassInfo> _passes = [];
    private readonly Dictionary<string, PassInfo> _byName = new(StringComparer.Ordinal);

    private static readonly Lazy<PassRegistry> BuiltInRegistry = new(() =>
    {
        var registry = new PassRegistry();
        BuiltInPasses.RegisterAll(registry);
        return registry;
    });

    /// <summary>Every pass that ships with OnnxQuant.</summary>
    public static PassRegistry BuiltIn => BuiltInRegistry.Value;

    /// <summary>Passes in registration order.</summary>
    public IReadOnlyList<PassInfo> Passes => _passes;

    public IEnumerable<string> Names => _passes.Select(p => p.Name);

    /// <summary>Adds a pass with a parameterless constructor.</summary>
    public PassRegistry Register<TPass>() where TPass : IPass, new() => Register(() => new TPass());

    /// <summary>
    /// Adds a pass made by <paramref name="factory"/>. Checks what can be checked without a model: a kebab-case name
    /// not yet taken, a summary, and options a recipe can set.
    /// </summary>
    public PassRegistry Register(Func<IPass> factory)
    {
        var sample = factory();
        string type = sample.GetType().Name;
        if (!KebabCase.IsValid(sample.Name))
            throw new InvalidOperationException($"Pass {type} has name '{sample.Name}'; pass names are kebab-case (fold-constants).");
        if (string.IsNullOrWhiteSpace(sample.Summary))
            throw new InvalidOperationException($"Pass {type} ('{sample.Name}') has no summary.");
        if (_byName.ContainsKey(sample.Name))
            throw new InvalidOperationException($"Two passes are named '{sample.Name}' ({_byName[sample.Name].Create().GetType().Name} and {type}).");
        if (sample.Name == FixedPointStep.RecipeKey)
            throw new InvalidOperationException($"'{FixedPointStep.RecipeKey}' is reserved for recipe groups; rename pass {type}.");
        var info = new PassInfo(sample, factory);
        _passes.Add(info);
        _byName.Add(info.Name, info);
        return this;
    }

    public bool TryGet(string name, out PassInfo info) => _byName.TryGetValue(name, out info!);

    /// <summary>The pass named <paramref name="name"/>, or a user error listing the passes and the closest names.</summary>
    public PassInfo Get(string name) =>
        TryGet(name, out var info) ? info : throw new OnnxQuantException(UnknownPassMessage(name));

    /// <summary>"Unknown pass 'x'. Did you mean 'y'? Passes: a, b, c." — shared by recipes and the command line.</summary>
    public string UnknownPassMessage(string name) =>
        $"Unknown pass '{name}'.{NameSuggestions.DidYouMean(name, Names)} " +
        (_passes.Count == 0 ? "No passes are registered." : $"Passes: {string.Join(", ", Names.Order(StringComparer.Ordinal))}.") +
        " (`onnxquant passes` describes them.)";

    /// <summary>Registered passes that provide <paramref name="property"/>, for precondition messages.</summary>
    public IEnumerable<PassInfo> Providers(string property) => _passes.Where(p => p.Provides.Contains(property));
}
