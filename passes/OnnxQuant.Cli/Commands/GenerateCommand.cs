using System.CommandLine;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.DemoModels;

namespace OnnxQuant.Cli.Commands;

/// <summary>
/// <c>onnxquant generate vit-tiny|vit-b16 OUT [--seed S]</c>: writes a demo model built by our own code with seeded
/// weights. For structure and speed measurements only; accuracy is always measured on real models.
/// </summary>
public static class GenerateCommand
{
    private static readonly Dictionary<string, VitConfig> Models = new(StringComparer.Ordinal)
    {
        ["vit-tiny"] = VitConfig.Tiny,
        ["vit-b16"] = VitConfig.B16,
    };

    public static Command Create()
    {
        var kind = new Argument<string>("MODEL") { Description = "Which model: " + string.Join(", ", Models.Keys) + "." };
        kind.AcceptOnlyFromAmong([.. Models.Keys]);
        var output = new Argument<string>("OUT") { Description = "Where to write the model." };
        var seed = new Option<int>("--seed") { Description = "Seed of the random weights.", DefaultValueFactory = _ => 0 };
        var command = new Command("generate", "Write a demo model built by OnnxQuant (seeded weights; for speed and structure, not accuracy).")
        {
            kind,
            output,
            seed,
        };
        command.SetAction(parse =>
        {
            string name = parse.GetRequiredValue(kind);
            string path = parse.GetRequiredValue(output);
            if (Directory.Exists(path))
                throw new OnnxQuantException($"generate: the output {path} is a folder. Give a file name, e.g. {Path.Combine(path, name + ".onnx")}.");
            using var model = VitGenerator.Generate(Models[name], parse.GetValue(seed));
            OnnxWriter.Write(model, path);
            long parameters = model.Graph.Constants.Sum(c => c.Const!.ElementCount);
            parse.InvocationConfiguration.Output.WriteLine(
                $"Wrote {path}: {name}, {parameters:N0} parameters, {new FileInfo(path).Length:N0} bytes.");
            return ExitCodes.Success;
        });
        return command;
    }
}
