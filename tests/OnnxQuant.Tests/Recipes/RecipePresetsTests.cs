using OnnxQuant.Ir;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Recipes;

namespace OnnxQuant.Tests.Recipes;

public class RecipePresetsTests
{
    [Fact]
    public void PresetsAreInstalledBesideTheProgram_AndAllLoad()
    {
        var presets = RecipePresets.List();

        Assert.StartsWith(AppContext.BaseDirectory, RecipePresets.DefaultDirectory);
        Assert.Contains(presets, p => p.Name == "cleanup");
        Assert.All(presets, p => Assert.False(string.IsNullOrWhiteSpace(p.Description), $"{p.Name} has no description"));
        // Every shipped preset names only built-in passes with valid options, in a valid order.
        Assert.All(presets, p => RecipeLoader.Load(p.Path));
    }

    [Fact]
    public void ShippedPresets_AreTheRepositoryFiles()
    {
        string source = Path.Combine(SharedPaths.RepoRoot, "models", "recipes");

        Assert.Equal(
            Directory.EnumerateFiles(source, "*.yaml").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal),
            RecipePresets.List().Select(p => p.Name));
    }

    [Theory]
    [InlineData("cleanup")]
    [InlineData("cleanup.yaml")]
    public void PresetIsFoundByName_WithOrWithoutYamlExtension(string spec)
    {
        string path = RecipePresets.Resolve(spec);

        Assert.Equal(Path.Combine(RecipePresets.DefaultDirectory, "cleanup.yaml"), path);
        Assert.Equal("cleanup", RecipeLoader.LoadFileOrPreset(spec).Name);
    }

    [Fact]
    public void PresetIsFound_FromAnotherWorkingDirectory()
    {
        string before = Environment.CurrentDirectory;
        string elsewhere = Directory.CreateTempSubdirectory("oq-cwd-").FullName;
        try
        {
            Environment.CurrentDirectory = elsewhere;
            Assert.Equal("cleanup", RecipeLoader.LoadFileOrPreset("cleanup").Name);
        }
        finally
        {
            Environment.CurrentDirectory = before;
            Directory.Delete(elsewhere, recursive: true);
        }
    }

    [Fact]
    public void AnExistingFile_WinsOverAPresetOfTheSameName()
    {
        string dir = Directory.CreateTempSubdirectory("oq-presets-").FullName;
        try
        {
            string file = Path.Combine(dir, "cleanup");
            File.WriteAllText(file, "name: mine\npasses: []\n");

            Assert.Equal(file, RecipePresets.Resolve(file));
            Assert.Equal("mine", RecipeLoader.LoadFileOrPreset(file).Name);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void UnknownRecipe_ListsThePresets_AndSuggestsTheClosest()
    {
        var e = Assert.Throws<OnnxQuantException>(() => RecipePresets.Resolve("claenup"));

        Assert.Contains("No recipe file 'claenup' and no preset named 'claenup'.", e.Message);
        Assert.Contains("Did you mean 'cleanup'?", e.Message);
        Assert.Contains("Presets: cleanup", e.Message);
    }

    [Fact]
    public void PresetsComeFromTheGivenFolder_WithBrokenOnesStillListed()
    {
        string dir = Directory.CreateTempSubdirectory("oq-presets-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "b.yaml"), "name: b\ndescription: Second.\npasses: []\n");
            File.WriteAllText(Path.Combine(dir, "a.yaml"), "name: a\ndescription: [unclosed\n");
            File.WriteAllText(Path.Combine(dir, "notes.txt"), "not a recipe");

            var presets = RecipePresets.List(dir);

            Assert.Equal(["a", "b"], presets.Select(p => p.Name));
            Assert.StartsWith("(cannot be read:", presets[0].Description);
            Assert.Equal("Second.", presets[1].Description);
            Assert.Equal(Path.Combine(dir, "b.yaml"), RecipePresets.Resolve("b", dir));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
