using OnnxQuant.Passes;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Tests.Pipeline;
using YamlDotNet.RepresentationModel;

namespace OnnxQuant.Tests.Recipes;

public class RecipeLoaderTests
{
    private static readonly PassRegistry Registry = TestRegistry.Create();

    private static Recipe Parse(string yaml) => RecipeLoader.Parse(yaml, "test.yaml", Registry);

    private static RecipeException Error(string yaml) => Assert.Throws<RecipeException>(() => Parse(yaml));

    [Fact]
    public void ParsesPassNames_Options_AndFixedPointGroups()
    {
        var recipe = Parse("""
            name: demo
            description: A demo recipe.
            passes:
              - remove-one-identity
              - append-identity: {count: 3, enabled: true, big: 5000000000, scale: 2, label: "x", granularity: per-channel,
                                  axes: [0, -1], names: [a, b], limit: null, note: hello}
              - fixed-point:
                  - remove-one-identity
                  - append-identity: {enabled: false}
                max-iterations: 7
            calibration:
              samples: 16
            quantization:
              weights: int4
            """);

        Assert.Equal(("demo", "A demo recipe.", "test.yaml"), (recipe.Name, recipe.Description, recipe.Source));
        Assert.Equal(3, recipe.Steps.Count);
        var append = (AppendOptions)Assert.IsType<PassStep>(recipe.Steps[1]).Options;
        Assert.Equal(new AppendOptions
        {
            Count = 3, Enabled = true, Big = 5_000_000_000, Scale = 2, Label = "x", Granularity = Granularity.PerChannel,
            Axes = append.Axes, Names = append.Names, Limit = null, Note = "hello",
        }, append);
        Assert.Equal([0, -1], append.Axes);
        Assert.Equal(["a", "b"], append.Names);
        var group = Assert.IsType<FixedPointStep>(recipe.Steps[2]);
        Assert.Equal(7, group.MaxIterations);
        Assert.Equal(["remove-one-identity", "append-identity"], group.Passes.Select(p => p.Name));
        Assert.False(((AppendOptions)group.Passes.Last().Options).Enabled);
        Assert.Equal("16", ((YamlScalarNode)recipe.Calibration!.Children[new YamlScalarNode("samples")]).Value);
        Assert.NotNull(recipe.Quantization);
    }

    [Fact]
    public void PassWithoutOptions_GetsDefaults()
    {
        var recipe = Parse("name: d\npasses:\n  - append-identity\n  - append-identity:\n");

        Assert.All(recipe.Passes, p => Assert.Equal(new AppendOptions().Count, ((AppendOptions)p.Options).Count));
    }

    [Fact]
    public void UnknownPass_IsAnErrorAtItsLine_ListingValidNames()
    {
        var e = Error("name: d\npasses:\n  - remove-one-identity\n  - apend-identity\n");

        Assert.Equal(new SourceLocation("test.yaml", 4, 5), e.Location);
        Assert.StartsWith("test.yaml:4:5: Unknown pass 'apend-identity'. Did you mean 'append-identity'?", e.Message);
        Assert.Contains("Passes: always-changes, append-identity, break-order", e.Message);
    }

    [Fact]
    public void UnknownOption_IsAnErrorAtItsLine_ListingTheOptions()
    {
        var e = Error("name: d\npasses:\n  - append-identity:\n      cuont: 2\n");

        Assert.StartsWith("test.yaml:4:7: Pass 'append-identity' has no option 'cuont'. Did you mean 'count'?", e.Message);
        Assert.Contains("count (int)", e.Message);
        Assert.Contains("granularity (enum (per-tensor|per-channel))", e.Message);
    }

    [Fact]
    public void OptionOfAPassWithoutOptions_SaysItTakesNone()
    {
        var e = Error("name: d\npasses:\n  - remove-one-identity: {count: 2}\n");

        Assert.StartsWith("test.yaml:3:27:", e.Message);
        Assert.Contains("takes no options", e.Message);
    }

    [Theory]
    [InlineData("count: two", "two", "Option 'count' of pass 'append-identity' is an int; found 'two'.")]
    [InlineData("count: \"2\"", "\"2", "Option 'count' of pass 'append-identity' is an int; found the quoted string '2'.")]
    [InlineData("count: 2.5", "2.5", "is an int; found '2.5'")]
    [InlineData("count: 99999999999", "999", "is an int; 99999999999 is out of range.")]
    [InlineData("enabled: yes", "yes", "is a bool; found 'yes'.")]
    [InlineData("scale: big", "big", "is a number; found 'big'.")]
    [InlineData("granularity: per-row", "per-row", "is one of per-tensor, per-channel; 'per-row' is not.")]
    [InlineData("axes: 3", "3", "is a list of int; found '3'.")]
    [InlineData("axes: [1, x]", "x", "(a list item) is an int; found 'x'.")]
    [InlineData("label: [a]", "[a]", "is a string; found a list.")]
    [InlineData("count: null", "null", "is an int; found nothing (null).")]
    public void WrongOptionType_IsAnErrorAtTheValue(string option, string valueStart, string message)
    {
        string line = $"  - append-identity: {{{option}}}";

        var e = Error($"name: d\npasses:\n{line}\n");

        int column = line.IndexOf(valueStart, line.IndexOf(':', line.IndexOf(option, StringComparison.Ordinal)), StringComparison.Ordinal) + 1;
        Assert.Equal(new SourceLocation("test.yaml", 3, column), e.Location);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void UnmetPrecondition_IsAnErrorAtTheLoadOfTheRecipe_NamingTheProvider()
    {
        var e = Error("name: d\npasses:\n  - remove-one-identity\n  - fuse-qdq\n  - insert-qdq\n");

        Assert.StartsWith("test.yaml:4:5: Pass 'fuse-qdq' requires 'qdq', which no earlier pass provides", e.Message);
        Assert.Contains("Put a pass that provides it ('insert-qdq') before 'fuse-qdq'.", e.Message);
    }

    [Fact]
    public void MetPrecondition_Loads()
    {
        var recipe = Parse("name: d\npasses:\n  - insert-qdq\n  - fixed-point: [fuse-qdq]\n");

        Assert.Equal(["insert-qdq", "fuse-qdq"], recipe.Passes.Select(p => p.Name));
    }

    [Fact]
    public void UnknownTopLevelKey_IsAnError_ListingTheValidKeys()
    {
        var e = Error("name: d\npases: []\n");

        Assert.StartsWith("test.yaml:2:1: Unknown recipe key 'pases'. Did you mean 'passes'?", e.Message);
        Assert.Contains("Valid keys: name, description, passes, calibration, quantization.", e.Message);
    }

    [Fact]
    public void OptionsNotIndentedUnderTheirPass_GetAHint()
    {
        var e = Error("name: d\npasses:\n  - append-identity:\n    count: 2\n");

        Assert.Equal(3, e.Location.Line);
        Assert.Contains("indent it under 'append-identity:'", e.Message);
    }

    [Theory]
    [InlineData("name: d\n", "no 'passes'")]
    [InlineData("passes: []\n", "no 'name'")]
    [InlineData("", "The recipe is empty")]
    [InlineData("- a\n- b\n", "A recipe is a mapping")]
    [InlineData("name: d\npasses: remove-one-identity\n", "'passes' is a list")]
    [InlineData("name: d\npasses: [fixed-point]\n", "'fixed-point' needs its passes")]
    [InlineData("name: d\npasses:\n  - fixed-point: []\n", "at least one pass")]
    [InlineData("name: d\npasses:\n  - fixed-point: [remove-one-identity]\n    max-iterations: 0\n", "'max-iterations' is a positive int")]
    [InlineData("name: d\npasses: []\ncalibration: 5\n", "'calibration' is a mapping")]
    [InlineData("name: d\nname: e\npasses: []\n", "This is not valid YAML")]
    [InlineData("name: d\npasses: [a\n", "This is not valid YAML")]
    public void MalformedRecipes_AreLocatedErrors(string yaml, string message)
    {
        var e = Error(yaml);

        Assert.Contains(message, e.Message);
        Assert.Matches(@"^test\.yaml:\d+:\d+: ", e.Message);
    }

    [Fact]
    public void Load_ReportsTheFilePath()
    {
        string dir = Directory.CreateTempSubdirectory("oq-recipe-").FullName;
        try
        {
            string path = Path.Combine(dir, "bad.yaml");
            File.WriteAllText(path, "name: d\npasses:\n  - nope\n");

            var e = Assert.Throws<RecipeException>(() => RecipeLoader.Load(path, Registry));

            Assert.StartsWith($"{path}:3:5: Unknown pass 'nope'.", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
