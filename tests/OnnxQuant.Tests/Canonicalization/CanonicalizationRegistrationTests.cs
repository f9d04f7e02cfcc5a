using OnnxQuant.Passes;

namespace OnnxQuant.Tests.Canonicalization;

public class CanonicalizationRegistrationTests
{
    [Theory]
    [InlineData("constants", "subgraphs")]
    [InlineData("fold-constants", "max-output-bytes,small-output-bytes,fold-shapes,fold-dequantize-linear")]
    [InlineData("noop", "arithmetic-identities,trust-recorded-shapes")]
    [InlineData("dce", "remove-unused-inputs,keep-custom-domain-nodes,remove-unused-functions")]
    public void BasicPass_IsRegistered_WithItsOptionsDescribed(string name, string options)
    {
        var pass = PassRegistry.BuiltIn.Get(name);

        Assert.Equal(options.Split(','), pass.Options.Select(o => o.Name));
        Assert.All(pass.Options, o => Assert.False(string.IsNullOrWhiteSpace(o.Description), $"{name}.{o.Name} has no description"));
    }

    [Fact]
    public void OptionDefaults_AreTheDocumentedOnes()
    {
        var fold = PassRegistry.BuiltIn.Get("fold-constants").Options.ToDictionary(o => o.Name);
        var dce = PassRegistry.BuiltIn.Get("dce").Options.ToDictionary(o => o.Name);

        Assert.Equal("1048576", fold["max-output-bytes"].DefaultText);
        Assert.Equal("4096", fold["small-output-bytes"].DefaultText);
        Assert.Equal("false", dce["remove-unused-inputs"].DefaultText);
    }
}
