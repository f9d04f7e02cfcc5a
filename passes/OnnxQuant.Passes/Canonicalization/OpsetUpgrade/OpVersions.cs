namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>One row of <see cref="OpsetHistory"/>: the schema versions of an op and which of them are breaking.</summary>
public sealed class OpVersions
{
    private readonly HashSet<int> _breaking;

    internal OpVersions(string opType, IReadOnlyList<int> versions, HashSet<int> breaking, int? deprecatedAt)
    {
        OpType = opType;
        Versions = versions.Order().ToArray();
        _breaking = breaking;
        DeprecatedAt = deprecatedAt;
    }

    public string OpType { get; }

    /// <summary>Every <c>since_version</c> of the op, ascending.</summary>
    public IReadOnlyList<int> Versions { get; }

    /// <summary>The version from which the op is deprecated (replaced by another op), if any.</summary>
    public int? DeprecatedAt { get; }

    public IEnumerable<int> BreakingVersions => Versions.Where(_breaking.Contains);

    public bool IsBreaking(int version) => _breaking.Contains(version);

    /// <summary>The schema a model importing <paramref name="opset"/> uses for this op, or null if it did not exist yet.</summary>
    public int? SchemaAt(long opset)
    {
        int? found = null;
        foreach (int v in Versions) if (v <= opset) found = v;
        return found;
    }

    /// <summary>
    /// The first breaking change a node at schema <paramref name="schema"/> meets on the way to <paramref name="target"/>:
    /// a later breaking version, or the schema itself when that is a deprecation (the op must be replaced even if the
    /// model already imports the deprecating opset).
    /// </summary>
    public int? NextBreaking(int schema, long target)
    {
        if (DeprecatedAt is int d && schema == d) return d;
        foreach (int v in Versions)
            if (v > schema && v <= target && _breaking.Contains(v)) return v;
        return null;
    }

    public override string ToString() => $"{OpType}: {string.Join(" ", Versions.Select(v => _breaking.Contains(v) ? v + "*" : v.ToString()))}";
}
