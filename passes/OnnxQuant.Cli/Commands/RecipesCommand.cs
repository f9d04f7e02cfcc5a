using System.CommandLine;
using OnnxQuant.Passes.Recipes;
using Spectre.Console;

namespace OnnxQuant.Cli.Commands;

/// <summary><c>onnxquant recipes</c>: the built-in recipes, by name, with their descriptions.</summary>
internal static class RecipesCommand
{
    public static Command Create(CliEnvironment env)
    {
        var command = new Command("recipes", "List the built-in recipes (use one with --recipe NAME).");
        command.SetAction(parse =>
        {
            var output = PipelineCli.ConsoleFor(parse.InvocationConfiguration.Output);
            var presets = RecipePresets.List(env.PresetDirectory);
            if (presets.Count == 0)
            {
                output.MarkupLine($"No built-in recipes are installed (looked in {Markup.Escape(env.PresetDirectory)}).");
                return 0;
            }
            var table = new Table().Border(TableBorder.Simple).AddColumn("Recipe").AddColumn("Description");
            foreach (var p in presets)
                table.AddRow(new Text(p.Name), new Text(p.Description ?? ""));
            output.Write(table);
            return 0;
        });
        return command;
    }
}
