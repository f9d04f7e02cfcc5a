using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>The node that carries on after a conversion step, and the schema version it now has.</summary>
internal readonly record struct Converted(Node Node, int Version);
