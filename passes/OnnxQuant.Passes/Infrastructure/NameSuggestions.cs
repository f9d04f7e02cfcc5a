namespace OnnxQuant.Passes;

/// <summary>"Did you mean" suggestions for misspelled pass, option, preset and enum names.</summary>
public static class NameSuggestions
{
    /// <summary>
    /// The candidates closest to <paramref name="name"/> (edit distance at most a third of its length, or containing
    /// it), best first.
    /// </summary>
    public static IReadOnlyList<string> Closest(string name, IEnumerable<string> candidates, int max = 3)
    {
        string lower = name.ToLowerInvariant();
        int limit = Math.Max(2, lower.Length / 3);
        return candidates
            .Select(c => (Name: c, Distance: Distance(lower, c.ToLowerInvariant())))
            .Where(p => p.Distance <= limit || (lower.Length >= 3 && p.Name.Contains(lower, StringComparison.OrdinalIgnoreCase)))
            .OrderBy(p => p.Distance).ThenBy(p => p.Name, StringComparer.Ordinal)
            .Take(max).Select(p => p.Name).ToList();
    }

    /// <summary>" Did you mean 'x'?" or "" — to append to an error message.</summary>
    public static string DidYouMean(string name, IEnumerable<string> candidates)
    {
        var close = Closest(name, candidates);
        return close.Count == 0 ? "" : $" Did you mean {string.Join(" or ", close.Select(c => $"'{c}'"))}?";
    }

    /// <summary>Optimal string alignment distance (Levenshtein plus adjacent transpositions).</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }
}
