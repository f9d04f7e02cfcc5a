using System.CommandLine;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Recipes;
using Spectre.Console;

namespace OnnxQuant.Cli.Commands;

/// <summary>
/// Registers the pipeline commands: <c>onnxquant IN OUT --recipe X</c> on the root, its twin <c>quantize</c>,
/// <c>recipes</c> and <c>passes</c>. Tests pass their own console, registry and preset folder.
/// </summary>
public static class PipelineCli
{
    /// <param name="root">The root command; it gets the IN OUT --recipe arguments and the subcommands.</param>
    /// <param name="output">Progress, summaries and listings.</param>
    /// <param name="errors">Error messages; defaults to <paramref name="output"/>.</param>
    /// <param name="registry">The passes recipes may name; defaults to the built-in ones.</param>
    /// <param name="presetDirectory">Where presets are; defaults to <c>models/recipes</c> beside the program.</param>
    public static void AddCommands(RootCommand root, IAnsiConsole output, IAnsiConsole? errors = null,
        PassRegistry? registry = null, string? presetDirectory = null)
    {
        var environment = new CliEnvironment(output, errors ?? output, registry ?? PassRegistry.BuiltIn,
            presetDirectory ?? RecipePresets.DefaultDirectory);
        QuantizeCommand.ConfigureRoot(root, environment);
        root.Subcommands.Add(QuantizeCommand.Create(environment));
        root.Subcommands.Add(RecipesCommand.Create(environment));
        root.Subcommands.Add(PassesCommand.Create(environment));
    }
}
