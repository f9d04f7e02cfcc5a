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
        scope.AddAll(root);
        return scope;
    }

    private void AddAll(Graph g)
    {
        foreach (var v in g.Inputs) Add(v.Name);
        foreach (var v in g.Constants) Add(v.Name);
        foreach (var n in g.Nodes)
        {
            foreach (var o in n.Outputs) Add(o?.Name);
            foreach (var sub in n.Subgraphs) AddAll(sub);
        }
    }

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
}
