using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>
/// A rewrite pattern written as a tree of <see cref="Pattern"/> builders, plus an optional <see cref="Check"/> for
/// what the tree cannot say (opset, types, attribute values that depend on each other).
/// </summary>
/// <example>
/// <code>
/// sealed class FuseHardSwish : TreePattern
/// {
///     protected override OpPattern Define()
///     {
///         var x = Pattern.Any("x");
///         return Pattern.Op("Div", Pattern.Op("Mul", x, Pattern.Op("Clip",
///             Pattern.Op("Add", x, Pattern.Scalar(3)), Pattern.Scalar(0), Pattern.Scalar(6))), Pattern.Scalar(6));
///     }
///     protected override string? Check(MatchResult match, RewriteContext context) => context.RequireOpset(14, "HardSwish");
///     public override void Rewrite(Rewriter rewriter, MatchResult match) =>
///         rewriter.Replace(match, rewriter.CreateBefore(match.Root, "HardSwish", [match.Value("x")]).Output);
/// }
/// </code>
/// </example>
public abstract class TreePattern : RewritePattern
{
    private OpPattern? _tree;

    /// <summary>The pattern tree, built once by <see cref="Define"/>.</summary>
    public OpPattern Tree => _tree ??= Define();

    public override string RootOpType => Tree.OpType;
    public override string RootDomain => Tree.Domain;

    /// <summary>Builds the tree; its root is an op pattern.</summary>
    protected abstract OpPattern Define();

    /// <summary>Null when a structural match may be rewritten, else the reason it may not.</summary>
    protected virtual string? Check(MatchResult match, RewriteContext context) => null;

    public sealed override MatchResult Match(Node root, RewriteContext context)
    {
        var match = Tree.MatchRoot(root);
        if (!match.Succeeded) return match;
        return Check(match, context) is { } reason ? MatchResult.Fail(reason) : match;
    }
}
