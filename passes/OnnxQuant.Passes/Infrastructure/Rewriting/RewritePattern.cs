using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>
/// A local rewrite: a pattern rooted at one op type, a <see cref="Match"/> that either captures what it needs or says
/// why it does not apply, and a <see cref="Rewrite"/> that edits the graph only through the <see cref="Rewriter"/>.
/// Name patterns verb-first (<c>FuseHardSwish</c>). Declarative patterns derive from <see cref="TreePattern"/>;
/// derive from this class directly when matching needs code.
/// </summary>
public abstract class RewritePattern
{
    /// <summary>Shown in statistics and near-miss reports.</summary>
    public virtual string Name => GetType().Name;

    /// <summary>The op type of the nodes the driver offers to <see cref="Match"/>.</summary>
    public abstract string RootOpType { get; }

    /// <summary>Every op type the driver offers to <see cref="Match"/> (a pattern anchored in several forms has several).</summary>
    public virtual IReadOnlyList<string> OfferedOpTypes => [RootOpType];

    /// <summary>The root op's domain; "" is the default ONNX domain.</summary>
    public virtual string RootDomain => "";

    /// <summary>
    /// When false (the default), a match whose covered nodes (other than the root) have outputs used outside the
    /// match — by another node, a subgraph or a graph output — is refused: replacing them would change those uses or
    /// duplicate work.
    /// </summary>
    protected virtual bool IntermediatesMayBeShared => false;

    /// <summary>Matches at <paramref name="root"/>, whose op type and domain are the pattern's root.</summary>
    public abstract MatchResult Match(Node root, RewriteContext context);

    /// <summary>Replaces the match; called only right after a successful <see cref="Match"/>.</summary>
    public abstract void Rewrite(Rewriter rewriter, MatchResult match);

    /// <summary>What the driver calls: <see cref="Rewrite(Rewriter, MatchResult)"/>, unless the rewrite depends on the context (the opset it targets).</summary>
    public virtual void Rewrite(Rewriter rewriter, MatchResult match, RewriteContext context) => Rewrite(rewriter, match);

    /// <summary>
    /// Null when the graph's opsets can express the rewrite of a match, else why not ("Gelu needs opset 20; the model
    /// has 17"). The driver leaves such a match as it is and reports it as skipped, not as a near miss: it is a
    /// match, which an opset upgrade would let fire.
    /// </summary>
    public virtual string? Unsupported(RewriteContext context) => null;

    /// <summary>
    /// What the driver calls: checks the root op, runs <see cref="Match"/>, then refuses shared intermediates (unless
    /// allowed). Use it in tests of a pattern.
    /// </summary>
    public MatchResult TryMatch(Node root, RewriteContext context)
    {
        if (!OfferedOpTypes.Contains(root.OpType) || !SameDomain(root.Domain, RootDomain))
            return MatchResult.Fail($"the root is {root.OpType}, not {string.Join(" or ", OfferedOpTypes)}");
        var match = Match(root, context);
        if (!match.Succeeded || IntermediatesMayBeShared) return match;
        return SharedIntermediate(match) is { } reason ? MatchResult.Fail(reason) : match;
    }

    /// <summary>Null when no covered node but the root has an output used outside the match (or a graph output); else the reason.</summary>
    private protected static string? SharedIntermediate(MatchResult match)
    {
        var covered = new HashSet<Node>(match.Nodes, ReferenceEqualityComparer.Instance);
        foreach (var node in match.Nodes)
        {
            if (ReferenceEquals(node, match.Root)) continue;
            foreach (var output in node.Outputs)
            {
                if (output is null) continue;
                if (output.IsAnyGraphOutput)
                    return $"the {node.OpType} inside the pattern produces a graph output";
                foreach (var use in output.Uses)
                    if (!covered.Contains(use.Node))
                        return $"the {node.OpType} inside the pattern is also used by {use.Node.OpType}" +
                               (use.Node.Graph == node.Graph ? "" : " in a subgraph");
            }
        }
        return null;
    }

    internal static bool SameDomain(string a, string b) =>
        (a is "" or "ai.onnx" ? "" : a) == (b is "" or "ai.onnx" ? "" : b);

    public override string ToString() => Name;
}
