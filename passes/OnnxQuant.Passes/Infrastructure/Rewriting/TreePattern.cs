using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>
/// A rewrite pattern written as a tree of <see cref="Pattern"/> builders, plus an optional <see cref="Check"/> for
/// what the tree cannot say (opset, types, attribute values that depend on each other).
/// <para>
/// The tree's top may be <see cref="Pattern.OneOf"/>: each alternative is then a tree of its own, tried in order
/// (put the one that covers most first: LayerNorm with γ and β before LayerNorm without). A tree is matched from
/// its root (its last node) unless one of its ops is marked <see cref="OpPattern.Anchor"/>: the driver then offers
/// nodes of the anchor's op type, and the roots tried are the nodes reached from the anchor's output along the
/// tree's paths. The structural match, the shared-intermediate rule and <see cref="Check"/> are tried together, so
/// that a commutative order or an alternative that fails the check gives way to the next one.
/// </para>
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
    private IReadOnlyList<Alternative>? _alternatives;

    /// <summary>One tree: its root, its anchor (null when matched from the root) and the paths from root to anchor.</summary>
    private sealed record Alternative(OpPattern Root, OpPattern? Anchor, List<List<(OpPattern Parent, int Input)>> PathsToAnchor);

    /// <summary>The first (or only) tree.</summary>
    public OpPattern Tree => Trees[0];

    /// <summary>The alternative trees, in the order they are tried.</summary>
    public IReadOnlyList<OpPattern> Trees => Alternatives.Select(a => a.Root).ToList();

    private IReadOnlyList<Alternative> Alternatives => _alternatives ??= Build(Define());

    public override string RootOpType => OfferedOpTypes[0];
    public override string RootDomain => (Alternatives[0].Anchor ?? Alternatives[0].Root).Domain;

    public override IReadOnlyList<string> OfferedOpTypes => Alternatives.Select(a => (a.Anchor ?? a.Root).OpType).Distinct().ToList();

    /// <summary>Builds the tree (an op pattern) or the alternative trees (<see cref="Pattern.OneOf"/> of op patterns).</summary>
    protected abstract ValuePattern Define();

    /// <summary>Null when a structural match may be rewritten, else the reason it may not.</summary>
    protected virtual string? Check(MatchResult match, RewriteContext context) => null;

    public sealed override MatchResult Match(Node root, RewriteContext context)
    {
        var state = new MatchState(root.Graph);
        MatchResult? result = null;
        bool Accept(Node candidate)
        {
            var match = state.ToResult(candidate);
            string? reason = IntermediatesMayBeShared ? null : SharedIntermediate(match);
            reason ??= Check(match, context);
            if (reason is not null) return state.Fail(reason, refusal: true);
            result = match;
            return true;
        }

        foreach (var alternative in Alternatives)
        {
            var entry = alternative.Anchor ?? alternative.Root;
            if (entry.OpType != root.OpType || !SameDomain(entry.Domain, root.Domain)) continue;
            state.Anchor = alternative.Anchor is null ? null : (alternative.Anchor, root);
            var candidates = alternative.Anchor is null ? [root] : RootsFrom(root, alternative, state);
            foreach (var candidate in candidates)
                if (alternative.Root.MatchRoot(candidate, state, () => Accept(candidate)))
                    return result!;
        }
        return MatchResult.Fail(state.FailureReason);
    }

    /// <summary>The nodes reached from <paramref name="anchor"/>'s output along the tree's paths to its root, in order found.</summary>
    private static List<Node> RootsFrom(Node anchor, Alternative alternative, MatchState state)
    {
        var roots = new List<Node>();
        foreach (var path in alternative.PathsToAnchor)
        {
            var level = new List<Node> { anchor };
            var child = alternative.Anchor!;
            for (int step = path.Count - 1; step >= 0 && level.Count > 0; step--)
            {
                var (parent, input) = path[step];
                var next = new List<Node>();
                foreach (var node in level)
                {
                    if (node.Outputs.Count <= child.OutputIndex || node.Outputs[child.OutputIndex] is not { } value) continue;
                    foreach (var use in value.Uses)
                    {
                        var user = use.Node;
                        bool position = use.InputIndex == input || parent.IsCommutative && use.InputIndex == 1 - input;
                        if (position && user.OpType == parent.OpType && SameDomain(user.Domain, parent.Domain) && !next.Contains(user))
                            next.Add(user);
                    }
                }
                if (next.Count == 0)
                    state.Fail($"the {child.OpType} is not read by {parent.OpType} (as input {input})");
                level = next;
                child = parent;
            }
            foreach (var node in level)
                if (!roots.Contains(node)) roots.Add(node);
        }
        return roots;
    }

    private static List<Alternative> Build(ValuePattern top)
    {
        var roots = new List<OpPattern>();
        void Flatten(ValuePattern p)
        {
            switch (p)
            {
                case OneOfPattern oneOf: foreach (var a in oneOf.Alternatives) Flatten(a); break;
                case OpPattern op: roots.Add(op); break;
                default: throw new InvalidOperationException($"A tree pattern's root must be an op (or alternatives of ops), not {p.GetType().Name}.");
            }
        }
        Flatten(top);
        var result = new List<Alternative>();
        foreach (var root in roots)
        {
            var paths = new List<List<(OpPattern, int)>>();
            OpPattern? anchor = root.IsAnchor ? null : FindAnchor(root);
            if (anchor is not null) CollectPaths(root, anchor, [], paths);
            result.Add(new Alternative(root, anchor, paths));
        }
        return result;
    }

    private static OpPattern? FindAnchor(ValuePattern p)
    {
        foreach (var (child, _) in p.Children)
        {
            if (child is OpPattern { IsAnchor: true } anchor) return anchor;
            if (FindAnchor(child) is { } deeper) return deeper;
        }
        return null;
    }

    /// <summary>Every path of (op, input) steps from <paramref name="at"/> down to <paramref name="anchor"/>; alternatives are transparent.</summary>
    private static void CollectPaths(ValuePattern at, OpPattern anchor, List<(OpPattern, int)> prefix, List<List<(OpPattern, int)>> into)
    {
        foreach (var (child, input) in at.Children)
        {
            var path = at is OpPattern op && input is int i ? [.. prefix, (op, i)] : prefix;
            if (ReferenceEquals(child, anchor)) into.Add(path);
            else CollectPaths(child, anchor, path, into);
        }
    }
}
