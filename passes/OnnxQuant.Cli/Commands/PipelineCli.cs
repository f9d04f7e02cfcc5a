using System.CommandLine;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Recipes;
using Spectre.Console;

namespace OnnxQuant.Cli.Commands;

/// <summary>
/// Registers the pipeline commands: <c>onnxquant IN OUT --recipe X</c> on the root, its twin <c>quantize</c>,
/// <c>recipes</c> and <c>passes</c>. They write to the invocation's output and error writers, so tests run them
/// in-process with their own registry and preset folder.
/// </summary>
public static class PipelineCli
{
    /// <param name="root">The root command; it gets the subcommands (see <see cref="WithImplicitQuantize"/> for <c>onnxquant IN OUT</c>).</param>
    /// <param name="registry">The passes recipes may name; defaults to the built-in ones.</param>
    /// <param name="presetDirectory">Where presets are; defaults to <c>models/recipes</c> beside the program.</param>
    public static void AddCommands(RootCommand root, PassRegistry? registry = null, string? presetDirectory = null)
    {
        var environment = new CliEnvironment(registry ?? PassRegistry.BuiltIn, presetDirectory ?? RecipePresets.DefaultDirectory);
        root.Subcommands.Add(QuantizeCommand.Create(environment));
        root.Subcommands.Add(RecipesCommand.Create(environment));
        root.Subcommands.Add(PassesCommand.Create(environment));
    }

    /// <summary>
    /// <c>onnxquant IN OUT --recipe X</c> is <c>onnxquant quantize IN OUT --recipe X</c>: when the first argument
    /// (after <c>--verbose</c>) is neither a command nor the root's <c>--help</c>/<c>--version</c>, <c>quantize</c> is
    /// put in front. Done on the arguments rather than by giving the root IN and OUT, because System.CommandLine
    /// prints a parent's arguments in every subcommand's usage (<c>onnxquant &lt;IN&gt; &lt;OUT&gt; eval …</c>).
    /// </summary>
    public static string[] WithImplicitQuantize(RootCommand root, string[] args)
    {
        string[] verbose = ["--verbose", "-v"];
        string? first = args.FirstOrDefault(a => !verbose.Contains(a));
        if (first is null) return args;
        bool isCommand = root.Subcommands.Any(c => c.Name == first || c.Aliases.Contains(first));
        bool isRootOption = root.Options.Any(o => o.Name == first || o.Aliases.Contains(first)) || first.StartsWith('[');
        return isCommand || isRootOption ? args : ["quantize", .. args];
    }

    /// <summary>Width used when the output is not a terminal, so piped tables are not squeezed to 80 columns.</summary>
    private const int PipeWidth = 160;

    /// <summary>A Spectre console over the invocation's writer: colours only on a terminal, plain text in files and pipes.</summary>
    internal static IAnsiConsole ConsoleFor(TextWriter writer)
    {
        bool terminal = (ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected) ||
                        (ReferenceEquals(writer, Console.Error) && !Console.IsErrorRedirected);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!terminal) console.Profile.Width = PipeWidth;
        return console;
    }
}
