using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization;

/// <summary>
/// Removes what cannot affect the model's outputs: nodes none of whose outputs is read, constants nothing reads,
/// model-local functions no node calls, and (when asked) unused inputs of the main graph.
/// <para>Identity: every ONNX operator is pure (its outputs depend only on its inputs and attributes, and it has no
/// other effect), so a node whose outputs nobody reads can go. A value read only inside a subgraph is read: subgraph
/// nodes are uses of the outer values they read, and a subgraph that lists an outer value as its output keeps it.</para>
/// <para>Preconditions: none. Walks the main graph, its subgraphs and function bodies; removing a node with
/// subgraphs releases everything those subgraphs read. Repeats until nothing more goes, so chains die at once.</para>
/// <para>Does not remove: graph outputs and what they need; inputs (unless
/// <see cref="DeadCodeEliminationOptions.RemoveUnusedInputs"/>, and never those of subgraphs or functions, whose
/// positions carry meaning); nodes of custom domains when <see cref="DeadCodeEliminationOptions.KeepCustomDomainNodes"/>
/// is set; functions reachable from the main graph (directly or through other functions).</para>
/// </summary>
public sealed class DeadCodeEliminationPass : Pass<DeadCodeEliminationOptions>
{
    public override string Name => "dce";

    public override string Summary => "Remove unused nodes, constants and functions (and unused inputs when asked).";

    public override PassResult Run(Model model, DeadCodeEliminationOptions options, PassContext context)
    {
        bool changed = false;
        for (bool again = true; again;)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            again = false;
            // Recomputed each round: removing a node with subgraphs drops their output lists.
            var listed = ValueRules.ListedByInnerGraphs(model);
            again |= SweepNodes(model.Graph, options, listed, context);
            foreach (var f in model.Functions) again |= SweepNodes(f.Body, options, listed, context);
            foreach (var g in model.AllGraphs().ToList()) again |= SweepConstants(g, listed, context);
            if (options.RemoveUnusedInputs) again |= SweepInputs(model.Graph, listed, context);
            if (options.RemoveUnusedFunctions) again |= SweepFunctions(model, context);
            changed |= again;
        }
        return PassResult.From(changed);
    }

    /// <summary>
    /// Walks a graph backwards, so a chain of dead nodes goes in one sweep; a live node's subgraphs are swept before
    /// the nodes above it, so an outer value read only by dead inner nodes is dead by the time it is reached.
    /// </summary>
    private static bool SweepNodes(Graph graph, DeadCodeEliminationOptions options, HashSet<Value> listed, PassContext context)
    {
        bool changed = false;
        // A snapshot walked backwards: only the node in hand (and what its subgraphs hold) is removed meanwhile.
        var nodes = graph.Nodes.ToList();
        for (int i = nodes.Count - 1; i >= 0; i--)
        {
            var node = nodes[i];
            if (IsDead(node, options, listed))
            {
                RemoveWithSubgraphs(graph, node, context);
                changed = true;
            }
            else
            {
                foreach (var sub in node.Subgraphs) changed |= SweepNodes(sub, options, listed, context);
            }
        }
        return changed;
    }

    private static bool IsDead(Node node, DeadCodeEliminationOptions options, HashSet<Value> listed)
    {
        if (options.KeepCustomDomainNodes && !IsOnnxDomain(node.Domain)) return false;
        foreach (var o in node.Outputs)
            if (o is not null && !ValueRules.IsUnused(o, listed)) return false;
        return true;
    }

    private static bool IsOnnxDomain(string domain) => domain is "" or "ai.onnx" or "ai.onnx.ml";

    /// <summary>Removes a node and, first, everything inside its subgraphs, so no inner node stays a use of an outer value.</summary>
    private static void RemoveWithSubgraphs(Graph graph, Node node, PassContext context)
    {
        foreach (var sub in node.Subgraphs)
        {
            for (var inner = sub.LastNode; inner is not null; inner = sub.LastNode)
                RemoveWithSubgraphs(sub, inner, context);
        }
        graph.Remove(node, force: true);
        context.Count("nodes-removed");
    }

    private static bool SweepConstants(Graph graph, HashSet<Value> listed, PassContext context)
    {
        bool changed = false;
        foreach (var c in graph.Constants.ToList())
        {
            if (c.IsGraphInput || !ValueRules.IsUnused(c, listed)) continue;
            graph.RemoveConstant(c);
            context.Count("constants-removed");
            changed = true;
        }
        return changed;
    }

    private static bool SweepInputs(Graph graph, HashSet<Value> listed, PassContext context)
    {
        bool changed = false;
        foreach (var v in graph.Inputs.ToList())
        {
            if (!ValueRules.IsUnused(v, listed)) continue;
            graph.Inputs.Remove(v);
            // An unused initializer that was also an input is now a plain unused constant.
            if (v.Const is not null) graph.RemoveConstant(v);
            context.Count("inputs-removed");
            changed = true;
        }
        return changed;
    }

    /// <summary>Keeps the functions reachable from the main graph (through nodes, subgraphs and other functions).</summary>
    private static bool SweepFunctions(Model model, PassContext context)
    {
        if (model.Functions.Count == 0) return false;
        var byKey = new Dictionary<(string, string, string), Function>();
        foreach (var f in model.Functions) byKey.TryAdd(Key(f), f);
        var reached = new HashSet<Function>(ReferenceEqualityComparer.Instance);
        var work = new Stack<Graph>();
        work.Push(model.Graph);
        while (work.TryPop(out var g))
        {
            foreach (var n in g.AllNodes())
            {
                if (byKey.TryGetValue((NormalDomain(n.Domain), n.OpType, n.Overload ?? ""), out var f) && reached.Add(f))
                    work.Push(f.Body);
            }
        }
        int removed = model.Functions.RemoveAll(f => !reached.Contains(f));
        if (removed > 0) context.Count("functions-removed", removed);
        return removed > 0;
    }

    private static (string Domain, string Name, string Overload) Key(Function f) => (NormalDomain(f.Domain), f.Name, f.Overload ?? "");

    private static string NormalDomain(string domain) => domain == "ai.onnx" ? "" : domain;
}
