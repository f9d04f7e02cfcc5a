using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>
/// Applies a set of patterns to every graph of a model (subgraphs and function bodies included) until none matches.
/// Each sweep offers every node, in order, to the patterns rooted at its op type; the first that matches rewrites
/// it. Applications are counted in the pass context under the pattern's name; the near misses of the final sweep
/// are recorded there too (for <c>--stats</c>) and returned.
/// </summary>
/// <example>
/// A fusion pass is then one line:
/// <code>
/// public override PassResult Run(Model model, NoOptions options, PassContext context) =>
///     RewriteDriver.Apply(model, [new FuseHardSwish()], context).ToPassResult();
/// </code>
/// </example>
public static class RewriteDriver
{
    /// <summary>Patterns that still match after this many sweeps undo each other (or grow the graph): a bug.</summary>
    public const int DefaultMaxSweeps = 100;

    public static RewriteResult Apply(Model model, IEnumerable<RewritePattern> patterns, PassContext context, int maxSweeps = DefaultMaxSweeps)
    {
        var list = patterns.ToList();
        var names = list.GroupBy(p => p.Name).FirstOrDefault(g => g.Count() > 1);
        if (names is not null) throw new ArgumentException($"Two patterns are named '{names.Key}'.", nameof(patterns));
        var byRoot = list.GroupBy(p => (Domain: Normalize(p.RootDomain), p.RootOpType))
            .ToDictionary(g => g.Key, g => g.ToList());
        var applied = list.ToDictionary(p => p.Name, _ => 0, StringComparer.Ordinal);

        for (int sweep = 1; ; sweep++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var misses = new List<NearMiss>();
            var appliedThisSweep = new List<string>();
            foreach (var (graph, function) in Graphs(model))
            {
                if (!IsAttached(graph)) continue;
                var rewriteContext = new RewriteContext(model, graph, context, function);
                var rewriter = new Rewriter(graph);
                foreach (var node in graph.Nodes.ToList())
                {
                    // An earlier rewrite in this sweep may have removed it.
                    if (node.Graph != graph) continue;
                    if (!byRoot.TryGetValue((Normalize(node.Domain), node.OpType), out var candidates)) continue;
                    foreach (var pattern in candidates)
                    {
                        var match = pattern.TryMatch(node, rewriteContext);
                        if (!match.Succeeded)
                        {
                            misses.Add(new NearMiss(pattern.Name, node, match.FailureReason!));
                            continue;
                        }
                        pattern.Rewrite(rewriter, match);
                        applied[pattern.Name]++;
                        appliedThisSweep.Add(pattern.Name);
                        context.Count(pattern.Name);
                        break;
                    }
                }
            }
            if (appliedThisSweep.Count == 0)
            {
                foreach (var miss in misses) context.RecordMiss(miss.Pattern, miss.Reason);
                return new RewriteResult(applied, misses, sweep);
            }
            if (sweep >= maxSweeps)
                throw new InvalidOperationException(
                    $"Patterns still matched after {maxSweeps} sweeps ({string.Join(", ", appliedThisSweep.Distinct())} in the last): " +
                    "a rewrite creates what another (or itself) matches again.");
        }
    }

    /// <summary>Every graph with the function whose body contains it (null for the main graph and its subgraphs).</summary>
    private static List<(Graph Graph, Function? Function)> Graphs(Model model)
    {
        var result = new List<(Graph, Function?)>();
        Collect(model.Graph, null, result);
        foreach (var f in model.Functions) Collect(f.Body, f, result);
        return result;
    }

    private static void Collect(Graph graph, Function? function, List<(Graph, Function?)> into)
    {
        into.Add((graph, function));
        foreach (var node in graph.Nodes)
            foreach (var sub in node.Subgraphs)
                Collect(sub, function, into);
    }

    /// <summary>False for a subgraph whose owner node was removed earlier in the sweep.</summary>
    private static bool IsAttached(Graph graph)
    {
        for (var g = graph; g.OwnerNode is { } owner; g = owner.Graph!)
            if (owner.Graph is null) return false;
        return true;
    }

    private static string Normalize(string domain) => domain == "ai.onnx" ? "" : domain;
}
