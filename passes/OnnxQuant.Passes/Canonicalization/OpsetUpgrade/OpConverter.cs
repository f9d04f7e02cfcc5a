using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// Rewrites nodes of one op across the breaking schema changes listed in <see cref="Versions"/>. A converter is called
/// once per change, in version order, with the node in the form of the schema just before that change; it returns the
/// node that now stands for the original one (itself, or a replacement, possibly of another op) and the schema version
/// that node is at (usually the version converted to). New helper nodes go through
/// <see cref="UpgradeContext.InsertBefore"/>, so they are upgraded the rest of the way like any other node.
/// </summary>
internal abstract class OpConverter
{
    public abstract string OpType { get; }

    /// <summary>The breaking versions of <see cref="OpType"/> this converter handles.</summary>
    public abstract IReadOnlyList<int> Versions { get; }

    /// <summary>
    /// Why this node cannot be taken across <paramref name="version"/>, or null. Run on every node before the pass edits
    /// anything, so a refusal leaves the model untouched; it reads only what earlier steps do not change.
    /// </summary>
    public virtual OnnxQuantException? Refusal(Node node, int version, UpgradeContext context) => null;

    public Converted Convert(Node node, int version, UpgradeContext context)
    {
        if (Refusal(node, version, context) is { } refusal) throw refusal;
        return Rewrite(node, version, context);
    }

    /// <summary>Performs one step on a node <see cref="Refusal"/> accepted.</summary>
    protected abstract Converted Rewrite(Node node, int version, UpgradeContext context);
}
