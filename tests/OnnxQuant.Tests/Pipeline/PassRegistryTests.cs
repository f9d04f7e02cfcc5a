using OnnxQuant.Ir;
using OnnxQuant.Passes;

namespace OnnxQuant.Tests.Pipeline;

public class PassRegistryTests
{
    [Fact]
    public void BuiltInPasses_HaveValidNamesSummariesAndOptions()
    {
        // Registering checks names, summaries and option types; building the registry runs those checks.
        var registry = PassRegistry.BuiltIn;

        Assert.All(registry.Passes, p => Assert.True(KebabCase.IsValid(p.Name), p.Name));
        Assert.Equal(registry.Passes.Count, registry.Names.Distinct().Count());
    }

    [Fact]
    public void UnknownName_SuggestsTheClosestPasses()
    {
        var registry = TestRegistry.Create();

        var e = Assert.Throws<OnnxQuantException>(() => registry.Get("remove-one-identty"));

        Assert.Contains("Unknown pass 'remove-one-identty'. Did you mean 'remove-one-identity'?", e.Message);
        Assert.Contains("append-identity", e.Message);
    }

    [Fact]
    public void ExposesOptionsInKebabCase_WithTypesAndDefaults()
    {
        var pass = TestRegistry.Create().Get("append-identity");

        var byName = pass.Options.ToDictionary(o => o.Name);

        Assert.Equal(["count", "enabled", "big", "scale", "label", "note", "granularity", "axes", "names", "limit"], pass.Options.Select(o => o.Name));
        Assert.Equal(("int", "1", "How many Identity nodes to append."), (byName["count"].TypeName, byName["count"].DefaultText, byName["count"].Description));
        Assert.Equal("enum (per-tensor|per-channel)", byName["granularity"].TypeName);
        Assert.Equal("per-tensor", byName["granularity"].DefaultText);
        Assert.Equal("list of int", byName["axes"].TypeName);
        Assert.Equal("int or null", byName["limit"].TypeName);
    }

    [Fact]
    public void RefusesDuplicateAndBadlyNamedPasses()
    {
        var registry = new PassRegistry().Register<RemoveOneIdentityPass>();

        Assert.Throws<InvalidOperationException>(() => registry.Register<RemoveOneIdentityPass>());
        Assert.Throws<InvalidOperationException>(() => registry.Register(() => new BadNamePass()));
    }

    [Theory]
    [InlineData("TargetOpset", "target-opset")]
    [InlineData("MaxIRVersion", "max-ir-version")]
    [InlineData("Int4", "int4")]
    [InlineData("PerChannel", "per-channel")]
    [InlineData("UInt8", "uint8")]
    [InlineData("ActivationUInt16", "activation-uint16")]
    [InlineData("UserInput", "user-input")]
    public void KebabCase_ConvertsPropertyNames(string pascal, string kebab) => Assert.Equal(kebab, KebabCase.From(pascal));

    private sealed class BadNamePass : Pass<NoOptions>
    {
        public override string Name => "Bad_Name";
        public override string Summary => "Has a name that is not kebab-case.";
        public override PassResult Run(Model model, NoOptions options, PassContext context) => PassResult.Unchanged;
    }
}
