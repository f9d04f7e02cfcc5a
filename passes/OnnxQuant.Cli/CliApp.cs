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
        root.Subcommands.Add(MergeStatsCommand.Create());
        root.Subcommands.Add(SensitivityCommand.Create());
        root.Subcommands.Add(ReportCommand.Create());
        root.Subcommands.Add(SampleCommand.Create());
    }

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var verbose = new Option<bool>("--verbose", "-v")
        {
            Description = "Print stack traces with errors.",
            Recursive = true,
        };
        var root = new RootCommand(
            "OnnxQuant: post-training quantization compiler for ONNX models. `onnxquant IN OUT --recipe NAME` is short for " +
            "`onnxquant quantize IN OUT --recipe NAME`; `onnxquant COMMAND --help` shows a command's usage.") { verbose };
        AddCommands(root);

        if (args.Length == 0)
        {
            stderr.WriteLine(UsageErrors.NoArguments);
            return ExitCodes.Usage;
        }
        var parse = root.Parse(PipelineCli.WithImplicitQuantize(root, args));
        // With --help the parser still reports missing arguments; help is what was asked for.
        if (parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction)
            return UsageErrors.Report(parse, stderr);
        bool isVerbose = parse.GetValue(verbose);
        try
        {
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
