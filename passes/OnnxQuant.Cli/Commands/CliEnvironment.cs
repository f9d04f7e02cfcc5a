using OnnxQuant.Passes;
using Spectre.Console;

namespace OnnxQuant.Cli.Commands;

/// <summary>What the pipeline commands use besides their arguments: consoles, the pass registry, the preset folder.</summary>
internal sealed record CliEnvironment(IAnsiConsole Output, IAnsiConsole Errors, PassRegistry Registry, string PresetDirectory);
