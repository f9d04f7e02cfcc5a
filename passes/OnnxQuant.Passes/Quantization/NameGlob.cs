using System.Text.RegularExpressions;

namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// The node- and tensor-name patterns of quantization recipes (<c>exclude-nodes</c>, <c>overrides</c>): <c>*</c> any
/// run of characters, <c>?</c> one character, everything else literal, matched against the whole name.
/// </summary>
public static class NameGlob
{
    public static Regex Compile(string pattern) =>
        new("^" + Regex.Escape(pattern).Replace(@"\*", ".*").Replace(@"\?", ".") + "$", RegexOptions.CultureInvariant);

    /// <summary>True when the node has a name and one of the patterns matches it.</summary>
    public static bool AnyMatches(IEnumerable<Regex> patterns, Ir.Node node) =>
        node.Name is { } name && patterns.Any(r => r.IsMatch(name));
}
