using OnnxQuant.Passes;

namespace OnnxQuant.Tests.Pipeline;

/// <summary>
/// The naming rule for passes, checked on every built-in pass so a new one cannot drift: the class is the pass name in
/// PascalCase plus <c>Pass</c> (<c>insert-qdq</c> → <c>InsertQdqPass</c>; case within a word aside, as in
/// <c>fuse-matmul-add</c> → <c>FuseMatMulAddPass</c>), its options class the same plus <c>Options</c>. Pass names
/// that are abbreviations are spelled out in the class name, and only these.
/// </summary>
public class PassNamingTests
{
    private static readonly Dictionary<string, string> SpelledOut = new(StringComparer.Ordinal)
    {
        ["constants"] = "ConstantsToValues",
        ["noop"] = "NoOpElimination",
        ["dce"] = "DeadCodeElimination",
    };

    [Fact]
    public void EveryPassClass_IsNamedAfterItsPassName()
    {
        var registry = PassRegistry.BuiltIn;

        Assert.All(registry.Passes, p =>
        {
            string stem = Stem(p.Name);
            Assert.True(string.Equals(p.Create().GetType().Name, stem + "Pass", StringComparison.OrdinalIgnoreCase),
                $"pass '{p.Name}' is implemented by {p.Create().GetType().Name}; expected {stem}Pass");
        });
    }

    [Fact]
    public void EveryOptionsClass_IsNamedAfterItsPassName()
    {
        var registry = PassRegistry.BuiltIn;

        Assert.All(registry.Passes.Where(p => p.OptionsType != typeof(NoOptions)), p =>
        {
            string stem = Stem(p.Name);
            Assert.True(string.Equals(p.OptionsType.Name, stem + "Options", StringComparison.OrdinalIgnoreCase),
                $"pass '{p.Name}' takes {p.OptionsType.Name}; expected {stem}Options");
        });
    }

    [Fact]
    public void SpelledOutNames_AreOnlyForPassesThatExist()
    {
        Assert.All(SpelledOut.Keys, name => Assert.Contains(name, PassRegistry.BuiltIn.Names));
    }

    private static string Stem(string passName) =>
        SpelledOut.TryGetValue(passName, out string? spelled)
            ? spelled
            : string.Concat(passName.Split('-').Select(w => char.ToUpperInvariant(w[0]) + w[1..]));
}
