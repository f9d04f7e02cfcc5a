using OnnxQuant.Passes;

namespace OnnxQuant.Cli.Commands;

/// <summary>What the pipeline commands use besides their arguments: the pass registry and the preset folder.</summary>
internal sealed record CliEnvironment(PassRegistry Registry, string PresetDirectory);
