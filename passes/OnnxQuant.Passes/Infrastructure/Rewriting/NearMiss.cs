using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>A node where a pattern's root op matched but the rest did not, and why.</summary>
public sealed record NearMiss(string Pattern, Node Node, string Reason);
