namespace OnnxQuant.Ir;

/// <summary>
/// The set of names used by a graph and its subgraphs, so that new values get names that collide with nothing.
/// Fresh names are <c>hint_N</c> with a counter, so the same sequence of edits always yields the same names.
/// </summary>
internal sealed class NameScope
{
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _counters = new(StringComparer.Ordinal);

    public static NameScope Collect(Graph root)
    {
        var scope = new NameScope();
        scope.Register(root);
        return scope;
    }

    /// <summary>Marks every name of <paramref name="g"/> and its subgraphs as used.</summary>
    private void Register(Graph g)
    {
        g.NamesAdoptedBy = this;
        foreach (var v in g.Inputs) Add(v.Name);
        foreach (var v in g.Constants) Add(v.Name);
        foreach (var n in g.Nodes)
        {
            foreach (var o in n.Outputs) Add(o?.Name);
            foreach (var sub in n.Subgraphs) Register(sub);
        }
    }

    /// <summary>
    /// Takes in the names of a subgraph joining the graph this scope covers. A subgraph built apart named its values
    /// in a scope of its own, so a value whose name is taken (or missing) here gets a fresh one; names inside a
    /// subgraph are not part of the model's interface. A graph this scope already holds is left alone.
    /// </summary>
    public void Adopt(Graph g)
    {
        if (ReferenceEquals(g.NamesAdoptedBy, this)) return;
        g.NamesAdoptedBy = this;
        var seen = new HashSet<Value>(ReferenceEqualityComparer.Instance);
        var defined = g.Constants.Concat(g.Inputs).Concat(g.Nodes.SelectMany(n => n.Outputs));
        foreach (var v in defined)
        {
            if (v is null || !seen.Add(v)) continue;
            if (!string.IsNullOrEmpty(v.Name) && _used.Add(v.Name)) continue;
            v.Name = Claim(null, string.IsNullOrEmpty(v.Name) ? "v" : v.Name);
        }
        foreach (var n in g.Nodes)
            foreach (var sub in n.Subgraphs) Adopt(sub);
    }

    public bool Contains(string name) => _used.Contains(name);

    private void Add(string? name)
    {
        if (!string.IsNullOrEmpty(name)) _used.Add(name);
    }

    /// <summary>Returns <paramref name="wanted"/> when set (names from the model are kept as they are), else a fresh name.</summary>
    public string Claim(string? wanted, string hint)
    {
        if (!string.IsNullOrEmpty(wanted))
        {
            _used.Add(wanted);
            return wanted;
        }
        if (string.IsNullOrEmpty(hint)) hint = "v";
        _counters.TryGetValue(hint, out int n);
        string candidate;
        do candidate = $"{hint}_{n++}"; while (!_used.Add(candidate));
        _counters[hint] = n;
        return candidate;
    }

    /// <summary>Returns <paramref name="name"/> when no value has it yet, else a fresh name built from it.</summary>
    public string ClaimPreferred(string name) =>
        !string.IsNullOrEmpty(name) && _used.Add(name) ? name : Claim(null, name);
}
