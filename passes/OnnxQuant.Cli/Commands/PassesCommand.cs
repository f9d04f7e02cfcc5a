using System.CommandLine;
using OnnxQuant.Passes;
using Spectre.Console;

namespace OnnxQuant.Cli.Commands;

/// <summary><c>onnxquant passes</c>: every pass a recipe can name, its summary, options and conditions, wrapped to the terminal.</summary>
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
            // Wrapped here with hanging indents, at the terminal's width (160 in files and pipes).
            int width = output.Profile.Width;
            void Write(string text, int indent, int hang)
            {
                foreach (string line in TextWrap.Lines(text, width, indent, hang)) output.Profile.Out.Writer.WriteLine(line);
            }
            foreach (var pass in passes)
            {
                Write($"{pass.Name}  {pass.Summary}", 0, 4);
                foreach (var o in pass.Options)
                    Write($"{o.Name}: {o.TypeName} = {o.DefaultText}{(o.Description is null ? "" : "  " + o.Description)}", 4, 8);
                if (pass.Requires.Count > 0) Write($"requires: {string.Join(", ", pass.Requires)}", 4, 8);
                if (pass.Provides.Count > 0) Write($"provides: {string.Join(", ", pass.Provides)}", 4, 8);
                if (pass.Statistics.Collects) Write("collects the calibration statistics the passes after it read", 4, 8);
                if (pass.Statistics.Reads != StatisticKinds.None)
                    Write($"reads calibration statistics: {StatisticsUse.Describe(pass.Statistics.Reads)} (a calibrate step must come before it)", 4, 8);
            }
            output.Profile.Out.Writer.Flush();
            return 0;
        });
        return command;
    }
}
