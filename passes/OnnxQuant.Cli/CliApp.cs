using System.CommandLine;
using OnnxQuant.Cli.Commands;

namespace OnnxQuant.Cli;

/// <summary>
/// The <c>onnxquant</c> command line: builds the root command, registers every command, runs one invocation and maps
/// exceptions to exit codes (<see cref="ExitCodes"/>). <see cref="Run"/> is the whole program, callable in-process.
/// </summary>
public static class CliApp
{
    /// <summary>
    /// Registers every command, in the order <c>--help</c> lists them. To add a command, write
    /// <c>Commands/XxxCommand.cs</c> with a <c>static Command Create()</c> and add one line here.
    /// </summary>
    private static void AddCommands(RootCommand root)
    {
        // onnxquant IN OUT --recipe X on the root itself, and quantize, recipes, passes.
        PipelineCli.AddCommands(root);
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(ConvertCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(AuditCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(CalibrateCommand.Create());
        root.Subcommands.Add(SensitivityCommand.Create());
    }

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var verbose = new Option<bool>("--verbose", "-v")
        {
            Description = "Print stack traces with errors.",
            Recursive = true,
        };
        var root = new RootCommand("OnnxQuant: post-training quantization compiler for ONNX models.") { verbose };
        AddCommands(root);

        var parse = root.Parse(args);
        bool isVerbose = parse.Errors.Count == 0 && parse.GetValue(verbose);
        try
        {
            // Usage errors (unknown option, missing argument) are printed by System.CommandLine and give exit code 1.
            return parse.Invoke(new InvocationConfiguration
            {
                Output = stdout,
                Error = stderr,
                EnableDefaultExceptionHandler = false,
            });
        }
        catch (Exception e)
        {
            return CliErrors.Report(e, stderr, isVerbose);
        }
    }
}
