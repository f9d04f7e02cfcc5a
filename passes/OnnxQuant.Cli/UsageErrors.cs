using System.CommandLine;
using System.CommandLine.Parsing;

namespace OnnxQuant.Cli;

/// <summary>
/// Turns System.CommandLine's parse errors (unknown option, missing argument, a value that does not parse) into one
/// line on stderr: what is wrong and where to read the command's usage. System.CommandLine's default prints every
/// error and then the whole help, which buries the one line that matters under a page of options.
/// </summary>
public static class UsageErrors
{
    /// <summary>What <c>onnxquant</c> without arguments prints.</summary>
    public const string NoArguments =
        "error: no arguments. Quantize a model with `onnxquant IN OUT --recipe NAME` (`onnxquant recipes` lists the recipes), " +
        "or see `onnxquant --help` for every command.";

    public static int Report(ParseResult parse, TextWriter stderr)
    {
        string command = CommandPath(parse.CommandResult);
        var messages = parse.Errors.Select(e => e.Message.Trim().TrimEnd('.')).Distinct().ToList();
        stderr.WriteLine($"error: {string.Join("; ", messages)}. Usage: `{command} --help`.");
        return ExitCodes.Usage;
    }

    /// <summary><c>onnxquant eval</c>: the command as users type it (the root's own name is the host's in tests).</summary>
    public static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is not null; r = r.Parent)
            if (r is CommandResult { Command: var c } && c is not RootCommand) names.Add(c.Name);
        names.Add("onnxquant");
        names.Reverse();
        return string.Join(' ', names);
    }
}
