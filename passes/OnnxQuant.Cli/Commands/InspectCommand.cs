using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using OnnxQuant.Cli.Inspection;
using OnnxQuant.Ir.Serialization;

namespace OnnxQuant.Cli.Commands;

/// <summary>
/// <c>onnxquant inspect MODEL [--json]</c>: what a model contains (header, interface, op histogram, parameters,
/// external data, verifier result), as tables or as JSON (passes/OnnxQuant.Cli/docs/inspect-json.md). Exits 0 whenever the model could
/// be read, even if the verifier finds problems: inspecting is how one looks at a broken model.
/// </summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("MODEL") { Description = "The .onnx file to describe." };
        var json = new Option<bool>("--json") { Description = "Print JSON (stable; documented in passes/OnnxQuant.Cli/docs/inspect-json.md) instead of tables." };
        var command = new Command("inspect", "Describe a model: IR version, opsets, inputs and outputs, op types, parameters, external data, verifier result.")
        {
            model,
            json,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            Run(parse.GetRequiredValue(model), parse.GetValue(json), output);
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Property names and layout of <c>--json</c>; changing them changes the documented format.</summary>
    internal static JsonSerializerOptions JsonOptions { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        // Model names are often non-ASCII; keep them readable. The output is for files and pipes, not HTML.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static void Run(string path, bool json, TextWriter output)
    {
        // Constant nodes stay nodes: the histogram shows the file as it is.
        using var model = OnnxReader.Read(path, new OnnxReadOptions { LiftConstantNodes = false });
        var report = ModelInspector.Inspect(model, path);
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(report, JsonOptions));
            return;
        }
        InspectTables.Write(report, PipelineCli.ConsoleFor(output));
    }
}
