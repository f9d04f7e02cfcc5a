using System.CommandLine;
using Spectre.Console;

namespace OnnxQuant.Cli.Commands;

/// <summary><c>onnxquant passes</c>: every pass a recipe can name, its summary, options and conditions.</summary>
internal static class PassesCommand
{
    public static Command Create(CliEnvironment env)
    {
        var command = new Command("passes", "List the passes recipes can use, with their options.");
        command.SetAction(parse =>
        {
            var output = PipelineCli.ConsoleFor(parse.InvocationConfiguration.Output);
            var passes = env.Registry.Passes;
            if (passes.Count == 0)
            {
                output.MarkupLine("No passes are registered.");
                return 0;
            }
            foreach (var pass in passes)
            {
                output.MarkupLine($"[bold]{Markup.Escape(pass.Name)}[/]  {Markup.Escape(pass.Summary)}");
                foreach (var o in pass.Options)
                {
                    string description = o.Description is null ? "" : "  " + o.Description;
                    output.MarkupLine(Markup.Escape($"    {o.Name}: {o.TypeName} = {o.DefaultText}{description}"));
                }
                if (pass.Requires.Count > 0) output.MarkupLine(Markup.Escape($"    requires: {string.Join(", ", pass.Requires)}"));
                if (pass.Provides.Count > 0) output.MarkupLine(Markup.Escape($"    provides: {string.Join(", ", pass.Provides)}"));
            }
            return 0;
        });
        return command;
    }
}
