using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>
/// Applies a set of patterns to every graph of a model (subgraphs and function bodies included) until none matches.
/// Each sweep offers every node, in order, to the patterns rooted at its op type; the first that matches rewrites
/// it. Applications are counted in the pass context under the pattern's name; the near misses of the final sweep
/// are recorded there too (for <c>--stats</c>) and returned, and its matches that the opset cannot express
/// (<see cref="RewritePattern.Unsupported"/>) are counted as <c>skipped-opset</c> and returned.
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
        var byRoot = list.SelectMany(p => p.OfferedOpTypes.Select(op => (Key: (Domain: Normalize(p.RootDomain), op), Pattern: p)))
            .GroupBy(e => e.Key).ToDictionary(g => g.Key, g => g.Select(e => e.Pattern).ToList());
        var applied = list.ToDictionary(p => p.Name, _ => 0, StringComparer.Ordinal);

        for (int sweep = 1; ; sweep++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var misses = new List<NearMiss>();
            var skipped = new List<NearMiss>();
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
                        if (pattern.Unsupported(rewriteContext) is { } unsupported)
                        {
                            skipped.Add(new NearMiss(pattern.Name, node, unsupported));
                            continue;
                        }
                        pattern.Rewrite(rewriter, match, rewriteContext);
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
                if (skipped.Count > 0) context.Count("skipped-opset", skipped.Count);
                return new RewriteResult(applied, misses, sweep) { Skipped = skipped };
            }
            if (sweep >= maxSweeps)
                throw new InvalidOperationException(
                    $"Patterns still matched after {maxSweeps} sweeps ({string.Join(", ", appliedThisSweep.Distinct())} in the last): " +
                    "a rewrite creates what another (or itself) matches again.");
        }
    }

    /// <summary>Every graph with the function whose body contains it (null for the main graph and its subgraphs).</summary>
    private static List<(Graph Graph, Function? Function)> Graphs(Model model) =>
        model.AllGraphs().Select(g => (g, model.Functions.FirstOrDefault(f => ReferenceEquals(f.Body, g.Root)))).ToList();

    /// <summary>False for a subgraph whose owner node was removed earlier in the sweep.</summary>
    private static bool IsAttached(Graph graph)
    {
        for (var g = graph; g.OwnerNode is { } owner; g = owner.Graph!)
            if (owner.Graph is null) return false;
        return true;
    }

    private static string Normalize(string domain) => domain == "ai.onnx" ? "" : domain;
}
