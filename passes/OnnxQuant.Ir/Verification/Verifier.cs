namespace OnnxQuant.Ir.Verification;

/// <summary>
/// Checks the invariants the IR promises, over every graph, subgraph and function body:
/// <list type="bullet">
/// <item>each value has one definition (a graph input, a constant, or one node output whose Producer and OutputIndex
/// point back), and its <see cref="Value.Graph"/> is the graph defining it;</item>
/// <item>use lists and node inputs agree both ways, and no value is used by a node outside the model;</item>
/// <item>names are set and unique across a graph and its subgraphs (function bodies have their own names);</item>
/// <item>nodes are in topological order: a node reads values of its graph defined before it, or values of an
/// enclosing graph defined before the node owning its subgraph; graph outputs are defined there too;</item>
/// <item>constants carry a tensor, have no producer and are listed in exactly one graph's constants;</item>
/// <item>node lists are well linked, each node's Graph is the graph holding it, and each subgraph's OwnerNode is the
/// node whose attribute holds it.</item>
/// </list>
/// A broken invariant is a bug in the code that changed the IR; tests and <c>--verify-each</c> run this after every
/// pass. Runs in time linear in the model's size (plus the length of each value's use list).
/// </summary>
public static class Verifier
{
    public static VerifierReport Verify(Model model)
    {
        var checker = new Checker();
        checker.CollectRoot(model.Graph, RootPath(model.Graph, "main graph"));
        foreach (var f in model.Functions) checker.CollectRoot(f.Body, $"function '{f.Domain}.{f.Name}'");
        return checker.Check();
    }

    /// <summary>
    /// Verifies one graph and its subgraphs. For a subgraph, values of the enclosing graphs defined before the owning
    /// nodes are visible, as in the whole model.
    /// </summary>
    public static VerifierReport Verify(Graph graph)
    {
        var checker = new Checker();
        var parent = checker.CollectEnclosing(graph);
        string path = parent is null ? RootPath(graph, "graph") : $"{parent.Path} / {graph.OwnerNode} {SubgraphLabel(graph.OwnerNode!, graph)}";
        checker.CollectGraph(graph, parent, parent is null ? -1 : parent.Nodes.IndexOf(graph.OwnerNode!), path, []);
        return checker.Check();
    }

    private static string RootPath(Graph g, string fallback) => g.Name is { } name ? $"graph '{name}'" : fallback;

    private static string SubgraphLabel(Node owner, Graph sub)
    {
        foreach (var a in owner.Attributes)
        {
            if (a.Value is Graph g && ReferenceEquals(g, sub)) return "." + a.Name;
            if (a.Value is Graph[] gs && Array.IndexOf(gs, sub) is int k and >= 0) return $".{a.Name}[{k}]";
        }
        return ".<detached attribute>";
    }

    private static string Describe(Node n, int position) => $"node #{position} {n}";

    /// <summary>One graph as seen by the checker: its enclosing graph, where its owner sits there, its nodes in order.</summary>
    private sealed class GraphInfo(Graph graph, GraphInfo? parent, int ownerPosition, string path, bool enclosingOnly,
        Dictionary<string, Value> names)
    {
        public Graph Graph { get; } = graph;
        public GraphInfo? Parent { get; } = parent;
        public int OwnerPosition { get; } = ownerPosition;
        public string Path { get; } = path;

        /// <summary>An enclosing graph of the graph being verified: its values are visible but it is not checked.</summary>
        public bool EnclosingOnly { get; } = enclosingOnly;

        /// <summary>Names defined so far in this graph's root and its subgraphs.</summary>
        public Dictionary<string, Value> Names { get; } = names;

        public List<Node> Nodes { get; } = [];
    }

    private readonly record struct Definition(GraphInfo Graph, int Position, string What);

    private sealed class Checker
    {
        private readonly List<VerifierIssue> _issues = [];
        private readonly Dictionary<Graph, GraphInfo> _graphs = new(ReferenceEqualityComparer.Instance);
        private readonly List<GraphInfo> _checked = [];
        private readonly Dictionary<Value, Definition> _definitions = new(ReferenceEqualityComparer.Instance);
        private readonly Dictionary<Node, int> _nodes = new(ReferenceEqualityComparer.Instance);
        private readonly HashSet<Value> _undefinedRead = new(ReferenceEqualityComparer.Instance);

        private void Report(VerifierIssueKind kind, string where, string message, Node? node = null, Value? value = null) =>
            _issues.Add(new VerifierIssue(kind, message, where, node, value));

        public void CollectRoot(Graph graph, string path) => CollectGraph(graph, null, -1, path, new(StringComparer.Ordinal));

        /// <summary>Records the values of the graphs enclosing <paramref name="graph"/>; returns its parent's info.</summary>
        public GraphInfo? CollectEnclosing(Graph graph)
        {
            var chain = new List<Graph>();
            for (var g = graph.Parent; g is not null; g = g.Parent) chain.Add(g);
            chain.Reverse();
            GraphInfo? info = null;
            for (int k = 0; k < chain.Count; k++)
            {
                var g = chain[k];
                string path = info is null ? RootPath(g, "graph") : $"{info.Path} / {g.OwnerNode} {SubgraphLabel(g.OwnerNode!, g)}";
                int ownerPosition = info is null ? -1 : info.Nodes.IndexOf(g.OwnerNode!);
                info = new GraphInfo(g, info, ownerPosition, path, enclosingOnly: true, []);
                _graphs[g] = info;
                foreach (var c in g.Constants) _definitions.TryAdd(c, new Definition(info, -1, "constant"));
                foreach (var v in g.Inputs) _definitions.TryAdd(v, new Definition(info, -1, "graph input"));
                int position = 0;
                foreach (var n in g.Nodes)
                {
                    info.Nodes.Add(n);
                    foreach (var o in n.Outputs)
                        if (o is not null) _definitions.TryAdd(o, new Definition(info, position, $"an output of {Describe(n, position)}"));
                    position++;
                }
            }
            return info;
        }

        public void CollectGraph(Graph g, GraphInfo? parent, int ownerPosition, string path, Dictionary<string, Value> names)
        {
            if (_graphs.TryGetValue(g, out var seen))
            {
                Report(VerifierIssueKind.SubgraphOwnerMismatch, path, $"the graph is held by more than one attribute (it is also {seen.Path}).");
                return;
            }
            var info = new GraphInfo(g, parent, ownerPosition, path, enclosingOnly: false, parent?.Names ?? names);
            _graphs[g] = info;
            _checked.Add(info);

            // Constants first: a graph input that is also a constant (an initializer callers may override) is one value.
            var constants = new HashSet<Value>(ReferenceEqualityComparer.Instance);
            foreach (var c in g.Constants)
            {
                if (c.Const is null)
                    Report(VerifierIssueKind.ConstantWithoutTensor, path, $"constant {c} carries no tensor.", value: c);
                if (c.Producer is not null)
                    Report(VerifierIssueKind.ConstantHasProducer, path, $"constant {c} has a producer, {c.Producer}.", c.Producer, c);
                if (constants.Add(c)) Define(c, info, -1, "a constant");
                else Report(VerifierIssueKind.MultipleDefinitions, path, $"constant {c} is listed twice among the constants.", value: c);
            }
            var inputs = new HashSet<Value>(ReferenceEqualityComparer.Instance);
            for (int i = 0; i < g.Inputs.Count; i++)
            {
                var v = g.Inputs[i];
                if (v is null)
                {
                    Report(VerifierIssueKind.UndefinedValue, path, $"graph input #{i} is null.");
                    continue;
                }
                if (!inputs.Add(v))
                {
                    Report(VerifierIssueKind.MultipleDefinitions, path, $"{v} is listed twice among the graph inputs.", value: v);
                    continue;
                }
                if (constants.Contains(v)) continue;
                if (v.Producer is not null)
                    Report(VerifierIssueKind.ProducerMismatch, path, $"graph input {v} has a producer, {v.Producer}.", v.Producer, v);
                if (v.Const is not null)
                    Report(VerifierIssueKind.ConstantNotListed, path, $"graph input {v} carries a tensor but is not among the graph's constants.", value: v);
                Define(v, info, -1, $"graph input #{i}");
            }

            int position = 0;
            Node? prev = null;
            for (var n = g.FirstNode; n is not null; prev = n, n = n.Next, position++)
            {
                if (_nodes.ContainsKey(n))
                {
                    Report(VerifierIssueKind.NodeListCorrupt, path, $"{Describe(n, position)} is listed twice (in this or another graph); the list is cut there.", n);
                    break;
                }
                if (!ReferenceEquals(n.Prev, prev))
                    Report(VerifierIssueKind.NodeListCorrupt, path, $"{Describe(n, position)} does not link back to the node before it.", n);
                if (!ReferenceEquals(n.Graph, g))
                    Report(VerifierIssueKind.NodeGraphMismatch, path,
                        $"{Describe(n, position)} is in this graph's node list but its Graph is {(n.Graph is null ? "null" : "another graph")}.", n);
                _nodes[n] = position;
                info.Nodes.Add(n);
                for (int k = 0; k < n.Outputs.Count; k++)
                {
                    var o = n.Outputs[k];
                    if (o is null) continue;
                    if (!ReferenceEquals(o.Producer, n) || o.OutputIndex != k)
                        Report(VerifierIssueKind.ProducerMismatch, path,
                            $"output {k} of {Describe(n, position)}, {o}, names {(o.Producer is null ? "no producer" : $"output {o.OutputIndex} of {o.Producer}")}.", n, o);
                    if (o.Const is not null)
                        Report(VerifierIssueKind.ConstantHasProducer, path, $"{o}, output {k} of {Describe(n, position)}, carries a constant tensor.", n, o);
                    Define(o, info, position, $"output {k} of {Describe(n, position)}");
                }
            }
            if (!ReferenceEquals(g.LastNode, prev))
                Report(VerifierIssueKind.NodeListCorrupt, path, $"the graph's last node is {g.LastNode?.ToString() ?? "null"}, but the list ends at {prev?.ToString() ?? "nothing"}.");
            if (g.NodeCount != info.Nodes.Count)
                Report(VerifierIssueKind.NodeListCorrupt, path, $"NodeCount is {g.NodeCount} but the list holds {info.Nodes.Count} nodes.");

            for (int p = 0; p < info.Nodes.Count; p++)
            {
                var n = info.Nodes[p];
                foreach (var a in n.Attributes)
                {
                    int k = 0;
                    foreach (var sub in a.Graphs)
                    {
                        string subPath = $"{path} / {n} .{a.Name}{(a.Value is Graph[] ? $"[{k}]" : "")}";
                        if (!ReferenceEquals(sub.OwnerNode, n))
                            Report(VerifierIssueKind.SubgraphOwnerMismatch, subPath,
                                $"attribute '{a.Name}' of {Describe(n, p)} holds this graph but its OwnerNode is {sub.OwnerNode?.ToString() ?? "null"}.", n);
                        CollectGraph(sub, info, p, subPath, names);
                        k++;
                    }
                }
            }
        }

        private void Define(Value v, GraphInfo info, int position, string what)
        {
            string path = info.Path;
            if (_definitions.TryGetValue(v, out var first))
            {
                Report(VerifierIssueKind.MultipleDefinitions, path, $"{v} is defined as {what}, and already as {first.What} in {first.Graph.Path}.", value: v);
                return;
            }
            _definitions[v] = new Definition(info, position, what);
            if (!ReferenceEquals(v.Graph, info.Graph))
                Report(VerifierIssueKind.ValueGraphMismatch, path,
                    $"{v}, {what}, has Graph set to {(v.Graph is null ? "null" : _graphs.TryGetValue(v.Graph, out var other) ? other.Path : "a graph outside the model")}.", value: v);
            if (string.IsNullOrEmpty(v.Name))
                Report(VerifierIssueKind.MissingName, path, $"{what} has no name.", value: v);
            else if (info.Names.TryGetValue(v.Name, out var clash))
                Report(VerifierIssueKind.DuplicateName, path,
                    $"'{v.Name}' names {what}, and also {_definitions[clash].What} in {_definitions[clash].Graph.Path}.", value: v);
            else
                info.Names[v.Name] = v;
        }

        public VerifierReport Check()
        {
            foreach (var info in _checked)
            {
                for (int p = 0; p < info.Nodes.Count; p++)
                {
                    var n = info.Nodes[p];
                    for (int i = 0; i < n.Inputs.Count; i++)
                    {
                        if (n.Inputs[i] is not { } v) continue;
                        string reader = $"{Describe(n, p)} (input {i})";
                        if (!v.Uses.Contains(new Use(n, i)))
                            Report(VerifierIssueKind.MissingUse, info.Path, $"{reader} reads {v}, whose use list does not include it.", n, v);
                        CheckVisible(v, info, p, reader, n, graphOutput: false);
                    }
                }
                for (int k = 0; k < info.Graph.Outputs.Count; k++)
                {
                    var v = info.Graph.Outputs[k];
                    if (v is null) Report(VerifierIssueKind.GraphOutputUndefined, info.Path, $"graph output #{k} is null.");
                    else CheckVisible(v, info, int.MaxValue, $"graph output #{k}", null, graphOutput: true);
                }
            }
            foreach (var (v, d) in _definitions)
                if (!d.Graph.EnclosingOnly) CheckUses(v, d.Graph.Path);
            foreach (var v in _undefinedRead) CheckUses(v, "an undefined value");
            return new VerifierReport(_issues);
        }

        /// <summary>Reports when <paramref name="v"/> is not defined before <paramref name="position"/> in the graph or its enclosing graphs.</summary>
        private void CheckVisible(Value v, GraphInfo info, int position, string reader, Node? node, bool graphOutput)
        {
            if (!_definitions.TryGetValue(v, out var d))
            {
                bool foreign = v.Graph is { } home && !_graphs.ContainsKey(home);
                // A value of another model has uses there, none of which concern this model.
                if (!foreign) _undefinedRead.Add(v);
                if (graphOutput)
                    Report(VerifierIssueKind.GraphOutputUndefined, info.Path, $"{reader} is {v}, which no graph of the model defines.", node, v);
                else if (foreign)
                    Report(VerifierIssueKind.OuterReferenceUnresolved, info.Path, $"{reader} reads {v}, a value of a graph outside the model.", node, v);
                else
                {
                    string why = v.Producer is { } p ? $"; its producer {p} is in no graph" : v.IsConstant ? "; it is a constant of no graph" : "";
                    Report(VerifierIssueKind.UndefinedValue, info.Path, $"{reader} reads {v}, which no graph of the model defines{why}.", node, v);
                }
                return;
            }
            int limit = position;
            for (var g = info; g is not null; limit = g.OwnerPosition, g = g.Parent)
            {
                if (!ReferenceEquals(g, d.Graph)) continue;
                if (d.Position < limit) return;
                string message = ReferenceEquals(g, info)
                    ? $"{reader} reads {v}, defined later as {d.What}."
                    : $"{reader} reads {v} of enclosing {g.Path}, defined as {d.What}, after the node owning the subgraph.";
                Report(VerifierIssueKind.NotInTopologicalOrder, info.Path, message, node, v);
                return;
            }
            Report(graphOutput ? VerifierIssueKind.GraphOutputUndefined : VerifierIssueKind.OuterReferenceUnresolved, info.Path,
                $"{reader} is {v}, {d.What} in {d.Graph.Path}, which is neither this graph nor one enclosing it.", node, v);
        }

        /// <summary>Every use a value lists must be a slot, of a node in the model, that holds the value; each once.</summary>
        private void CheckUses(Value v, string where)
        {
            HashSet<Use>? seen = v.Uses.Count > 1 ? [] : null;
            foreach (var u in v.Uses)
            {
                if (seen is not null && !seen.Add(u))
                    Report(VerifierIssueKind.StaleUse, where, $"{v} lists input {u.InputIndex} of {u.Node} twice among its uses.", u.Node, v);
                else if (!_nodes.ContainsKey(u.Node))
                    Report(VerifierIssueKind.UseByDetachedNode, where,
                        $"{v} lists a use by {u.Node} (input {u.InputIndex}), which is in no graph verified here (detached or removed).", u.Node, v);
                else if (u.InputIndex < 0 || u.InputIndex >= u.Node.Inputs.Count || !ReferenceEquals(u.Node.Inputs[u.InputIndex], v))
                    Report(VerifierIssueKind.StaleUse, where,
                        $"{v} lists input {u.InputIndex} of {Describe(u.Node, _nodes[u.Node])} as a use, but that slot holds " +
                        $"{(u.InputIndex >= 0 && u.InputIndex < u.Node.Inputs.Count ? u.Node.Inputs[u.InputIndex]?.ToString() ?? "nothing" : "nothing (no such input)")}.",
                        u.Node, v);
            }
        }
    }
}
