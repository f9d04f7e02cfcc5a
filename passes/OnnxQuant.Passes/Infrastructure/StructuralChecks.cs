using OnnxQuant.Ir;

namespace OnnxQuant.Passes;

/// <summary>
/// A stand-in for the IR verifier (passes/OnnxQuant.Ir/Verification) until it lands: the invariants passes break
/// most often — every input defined before it is read and visible from the node's graph, use lists matching inputs
/// both ways, outputs owned by their producer. <see cref="PassManager"/> uses it for <c>--verify-each</c> when no
/// verifier is given.
/// </summary>
internal static class StructuralChecks
{
    public static void Verify(Model model, string context)
    {
        var problems = new List<string>();
        Check(model.Graph, [], problems);
        foreach (var f in model.Functions) Check(f.Body, [], problems);
        if (problems.Count > 0)
            throw new OnnxQuantException(
                $"The model is invalid {context}: {string.Join("; ", problems.Take(5))}" +
                (problems.Count > 5 ? $" (and {problems.Count - 5} more problems)" : ""));
    }

    private static void Check(Graph graph, HashSet<Value> outer, List<string> problems)
    {
        var visible = new HashSet<Value>(outer, ReferenceEqualityComparer.Instance);
        foreach (var v in graph.Inputs) visible.Add(v);
        foreach (var c in graph.Constants)
        {
            visible.Add(c);
            if (c.Graph != graph) problems.Add($"constant {c} does not name its graph");
            CheckUses(c, problems);
        }
        foreach (var node in graph.Nodes)
        {
            if (node.Graph != graph) problems.Add($"{node} is listed in a graph it does not belong to");
            for (int i = 0; i < node.Inputs.Count; i++)
            {
                var v = node.Inputs[i];
                if (v is null) continue;
                if (!visible.Contains(v))
                    problems.Add(v.Graph is null
                        ? $"{node} reads {v}, which no graph defines (a removed node's output?)"
                        : $"{node} reads {v} before it is defined (nodes out of topological order?)");
                if (!v.Uses.Contains(new Use(node, i)))
                    problems.Add($"{node} reads {v} as input {i}, but {v}'s use list does not say so");
            }
            foreach (var sub in node.Subgraphs)
            {
                if (sub.OwnerNode != node) problems.Add($"a subgraph of {node} does not name it as owner");
                Check(sub, visible, problems);
            }
            for (int i = 0; i < node.Outputs.Count; i++)
            {
                var o = node.Outputs[i];
                if (o is null) continue;
                if (o.Producer != node || o.OutputIndex != i) problems.Add($"{o} is output {i} of {node} but names another producer");
                if (!visible.Add(o)) problems.Add($"{o} is defined twice");
                CheckUses(o, problems);
            }
        }
        foreach (var o in graph.Outputs)
            if (!visible.Contains(o)) problems.Add($"graph output {o} is not defined in the graph");
    }

    private static void CheckUses(Value v, List<string> problems)
    {
        foreach (var use in v.Uses)
        {
            if (use.Node.Graph is null) problems.Add($"{v} is used by {use.Node}, which is not in any graph");
            else if (use.InputIndex >= use.Node.Inputs.Count || !ReferenceEquals(use.Node.Inputs[use.InputIndex], v))
                problems.Add($"{v}'s use list names input {use.InputIndex} of {use.Node}, which reads something else");
        }
    }
}
