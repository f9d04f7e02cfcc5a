using System.ComponentModel;

namespace OnnxQuant.Passes.Canonicalization;

/// <summary>Options of <see cref="DeadCodeEliminationPass"/>.</summary>
public sealed class DeadCodeEliminationOptions
{
    [Description("Also remove inputs of the main graph that nothing reads. Off by default: inputs are the model's interface, and callers may still feed them.")]
    public bool RemoveUnusedInputs { get; set; }

    [Description("Keep unused nodes of domains other than the ONNX ones (\"\", ai.onnx, ai.onnx.ml), in case a custom operator has effects besides its outputs. Off by default: custom operators are treated as pure.")]
    public bool KeepCustomDomainNodes { get; set; }

    [Description("Remove model-local functions that no node of the model calls.")]
    public bool RemoveUnusedFunctions { get; set; } = true;
}
