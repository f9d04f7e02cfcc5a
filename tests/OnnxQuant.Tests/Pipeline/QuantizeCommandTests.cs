using System.CommandLine;
using OnnxQuant.Cli.Commands;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;

namespace OnnxQuant.Tests.Pipeline;

/// <summary>The main command end to end, in process, with the test passes and a temporary folder.</summary>
public sealed class QuantizeCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("oq-cli-").FullName;
    private readonly string _presets;
    private readonly string _input;

    public QuantizeCommandTests()
    {
        _presets = Directory.CreateDirectory(Path.Combine(_dir, "presets")).FullName;
        File.WriteAllText(Path.Combine(_presets, "strip.yaml"),
            "name: strip\ndescription: Removes Identity nodes.\npasses:\n  - fixed-point: [remove-one-identity]\n");
        _input = Path.Combine(_dir, "in.onnx");
        using var model = TestModels.Chain(identities: 2);
        OnnxWriter.Write(model, _input);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Recipe(string passes)
    {
        string path = Path.Combine(_dir, "recipe.yaml");
        File.WriteAllText(path, $"name: test\npasses:\n{passes}");
        return path;
    }

    private (int Code, string Out, string Err) Cli(params string[] args)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        var root = new RootCommand("test");
        PipelineCli.AddCommands(root, TestRegistry.Create(), _presets);
        int code = root.Parse(PipelineCli.WithImplicitQuantize(root, args)).Invoke(new InvocationConfiguration { Output = output, Error = errors });
        return (code, output.ToString(), errors.ToString());
    }

    private string Output => Path.Combine(_dir, "out.onnx");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RunsTheRecipe_WritesTheModel_AndPrintsASummary(bool asSubcommand)
    {
        string recipe = Recipe("  - fixed-point: [remove-one-identity]\n  - append-identity\n");
        string[] args = [_input, Output, "--recipe", recipe];

        var (code, stdout, stderr) = Cli(asSubcommand ? ["quantize", .. args] : args);

        Assert.True(code == 0, stderr);
        using (var written = OnnxReader.Read(Output))
            Assert.Equal(["Relu", "Neg", "Identity"], written.Graph.Nodes.Select(n => n.OpType));
        // One progress line per pass run.
        Assert.Matches(@"remove-one-identity \(round 1\)\s+changed", stdout);
        Assert.Matches(@"remove-one-identity \(round 3\)\s+unchanged", stdout);
        Assert.Matches(@"\n\s+append-identity\s+changed", stdout);
        // Summary: node count and op histogram before and after, sizes, time per pass.
        Assert.Matches(@"Nodes\s+4\s+3", stdout);
        Assert.Matches(@"Identity\s+2\s+1", stdout);
        Assert.Matches(@"Relu\s+1\s+1", stdout);
        Assert.Matches(@"File size\s+\d+ B\s+\d+ B", stdout);
        Assert.Matches(@"remove-one-identity\s+3\s+2\s+[\d.]+ ms", stdout);
        Assert.Contains("Wrote ", stdout);
        Assert.Equal("", stderr);
    }

    [Fact]
    public void PresetIsFoundByName()
    {
        var (code, stdout, stderr) = Cli(_input, Output, "--recipe", "strip");

        Assert.True(code == 0, stderr);
        Assert.Contains("Recipe strip (built-in), 1 passes", stdout);
        using var written = OnnxReader.Read(Output);
        Assert.Equal(0, TestModels.Count(written, "Identity"));
    }

    [Fact]
    public void FailingPass_LeavesNoOutputFile_AndNamesThePassAndItsPredecessors()
    {
        string recipe = Recipe("  - append-identity\n  - crashing\n");
        var filesBefore = Directory.EnumerateFiles(_dir).Order().ToList();

        var (code, _, stderr) = Cli(_input, Output, "--recipe", recipe);

        Assert.Equal(70, code);
        Assert.False(File.Exists(Output));
        Assert.Equal(filesBefore, Directory.EnumerateFiles(_dir).Order().ToList());
        Assert.Contains("internal error in pass 'crashing'", stderr);
        Assert.Contains("Passes run before it: append-identity.", stderr);
        Assert.Contains("Nothing was written.", stderr);
    }

    [Fact]
    public void UserErrorInAPass_IsPrintedWithoutAStackTrace()
    {
        var (code, _, stderr) = Cli(_input, Output, "--recipe", Recipe("  - rejecting\n"));

        Assert.Equal(2, code);
        Assert.StartsWith("error: Node 'conv1' has an unsupported auto_pad", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(File.Exists(Output));
    }

    [Fact]
    public void OutputEqualToInput_IsRefused_AndTheInputIsUntouched()
    {
        byte[] original = File.ReadAllBytes(_input);
        string sameFile = Path.Combine(_dir, ".", "in.onnx");

        var (code, _, stderr) = Cli(_input, sameFile, "--recipe", "strip");

        Assert.Equal(2, code);
        Assert.Contains("OUT is the same file as the input", stderr);
        Assert.Equal(original, File.ReadAllBytes(_input));
    }

    [Fact]
    public void UnknownRecipe_ListsThePresets()
    {
        var (code, _, stderr) = Cli(_input, Output, "--recipe", "strp");

        Assert.Equal(2, code);
        Assert.Contains("no preset named 'strp'. Did you mean 'strip'?", stderr);
        Assert.False(File.Exists(Output));
    }

    [Fact]
    public void RecipeError_IsReportedWithItsLine_BeforeTheModelIsRead()
    {
        string missingModel = Path.Combine(_dir, "missing.onnx");

        var (code, _, stderr) = Cli(missingModel, Output, "--recipe", Recipe("  - fuse-qdq\n"));

        Assert.Equal(2, code);
        Assert.Contains("recipe.yaml:3:5: Pass 'fuse-qdq' requires 'qdq'", stderr);
    }

    [Fact]
    public void VerifyEach_StopsAtTheBrokenPass()
    {
        var (code, _, stderr) = Cli(_input, Output, "--recipe", Recipe("  - remove-one-identity\n  - break-order\n"), "--verify-each");

        Assert.Equal(70, code);
        Assert.Contains("invalid after pass 'break-order'", stderr);
        Assert.False(File.Exists(Output));
    }

    [Fact]
    public void PrintIrAfter_AndStats_PrintTheIrAndTheCounters()
    {
        string recipe = Recipe("  - remove-one-identity\n  - append-identity: {count: 2}\n");

        var (code, stdout, stderr) = Cli(_input, Output, "--recipe", recipe, "--print-ir-after", "remove-one-identity",
            "--print-ir-after", "append-identity", "--stats", "--seed", "7");

        Assert.True(code == 0, stderr);
        Assert.Contains("// IR after remove-one-identity\n", stdout);
        Assert.Contains("// IR after append-identity\n", stdout);
        Assert.Matches(@"graph chain\(%x: float\[2,3\]\)", stdout);
        Assert.Matches(@"remove-one-identity\.removed\s+1", stdout);
        Assert.Matches(@"append-identity\.appended\s+2", stdout);
    }

    [Fact]
    public void PrintIrAfter_AnUnknownPass_IsAnError()
    {
        var (code, _, stderr) = Cli(_input, Output, "--recipe", "strip", "--print-ir-after", "remove-one-identiy");

        Assert.Equal(2, code);
        Assert.Contains("Did you mean 'remove-one-identity'?", stderr);
    }

    [Fact]
    public void ExternalData_WritesTheWeightsBesideTheModel()
    {
        var g = new Graph { Name = "big" };
        var x = g.AddInput("x", new TensorType(DataType.Float, new Shape(512)));
        var weights = Tensor.FromFloats(Enumerable.Range(0, 512).Select(i => (float)i).ToArray(), 512);
        g.Outputs.Add(g.Append(new Node("Add", [x, g.AddConstant(weights, "w")])).Output);
        var model = new Model(g);
        model.SetOpset("", 17);
        OnnxWriter.Write(model, _input);

        var (code, stdout, stderr) = Cli(_input, Output, "--recipe", "strip", "--external-data");

        Assert.True(code == 0, stderr);
        Assert.True(File.Exists(Output + ".data"));
        Assert.Contains("and out.onnx.data", stdout);
        using var written = OnnxReader.Read(Output);
        Assert.True(written.Graph.Constants.Single().Const!.ContentEquals(weights));
    }

    [Fact]
    public void RecipesCommand_ListsPresetsWithDescriptions()
    {
        var (code, stdout, _) = Cli("recipes");

        Assert.Equal(0, code);
        Assert.Matches(@"strip\s+Removes Identity nodes\.", stdout);
    }

    [Fact]
    public void PassesCommand_ListsPassesWithSummariesAndOptions()
    {
        var (code, stdout, _) = Cli("passes");

        Assert.Equal(0, code);
        Assert.Contains("append-identity  Appends Identity nodes to the first graph output.", stdout);
        Assert.Contains("    count: int = 1  How many Identity nodes to append.", stdout);
        Assert.Contains("    granularity: enum (per-tensor|per-channel) = per-tensor", stdout);
        Assert.Contains("    requires: qdq", stdout);
    }

    [Fact]
    public void MissingRecipeOption_IsAnError()
    {
        var (code, _, stderr) = Cli(_input, Output);

        Assert.Equal(2, code);
        Assert.Contains("--recipe", stderr);
    }
}
