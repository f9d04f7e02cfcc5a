namespace OnnxQuant.Passes.Canonicalization;

/// <summary>Options of <see cref="DeadCodeEliminationPass"/>.</summary>
public sealed class DeadCodeEliminationOptions
{
    /// <summary>
    /// Also remove inputs of the main graph that nothing reads. Off by default: inputs are the model's interface, and
    /// callers may still feed them.
    /// </summary>
    public bool RemoveUnusedInputs { get; set; }

    /// <summary>
    /// Keep unused nodes of domains other than the ONNX ones (<c>""</c>, <c>ai.onnx</c>, <c>ai.onnx.ml</c>), in case a
    /// custom operator has effects besides its outputs. Off by default: custom operators are treated as pure.
    /// </summary>
    public bool KeepCustomDomainNodes { get; set; }

    /// <summary>Remove model-local functions that no node of the model calls.</summary>
    public bool RemoveUnusedFunctions { get; set; } = true;
}
