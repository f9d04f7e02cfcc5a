namespace OnnxQuant.Ir;

/// <summary>
/// Which node of the model as the quantizer read it a node stands for, recorded in the node's own
/// <c>metadata_props</c> (<see cref="Key"/>) when a pass replaces a node with one of another name (a MatMul by a
/// MatMulNBits or a MatMulInteger). Tools that compare a quantized model with its float source (the report) pair
/// layers through this record instead of guessing from naming conventions; nodes that keep their name need no record,
/// so models whose nodes are all kept are written byte for byte as before.
/// </summary>
public static class NodeOrigin
{
    /// <summary>The node metadata key: its value is the float source node's name.</summary>
    public const string Key = "onnxquant.origin";

    /// <summary>The recorded origin, or null when the node carries none.</summary>
    public static string? Recorded(Node node)
    {
        ArgumentNullException.ThrowIfNull(node);
        foreach (var (key, value) in node.Metadata)
            if (key == Key) return value;
        return null;
    }

    /// <summary>The name of the source node this node stands for: the recorded origin, else its own name.</summary>
    public static string? SourceName(Node node) => Recorded(node) ?? node.Name;

    /// <summary>
    /// Records that <paramref name="replacement"/> stands for <paramref name="original"/> (or for what the original
    /// itself stood for, so a chain of replacements still points at the float node). Nothing is recorded when the
    /// original had no name or the replacement keeps it.
    /// </summary>
    public static void Inherit(Node replacement, Node original)
    {
        ArgumentNullException.ThrowIfNull(replacement);
        ArgumentNullException.ThrowIfNull(original);
        string? source = SourceName(original);
        replacement.Metadata.RemoveAll(e => e.Key == Key);
        if (source is null || source == replacement.Name) return;
        replacement.Metadata.Add(new(Key, source));
    }

    /// <summary>
    /// Copies the origin <paramref name="original"/> already records onto <paramref name="replacement"/> (a fusion that
    /// replaces a replaced node, e.g. MatMulNBits by a custom op); adds nothing when the original records none.
    /// </summary>
    public static void CarryOver(Node replacement, Node original)
    {
        ArgumentNullException.ThrowIfNull(replacement);
        ArgumentNullException.ThrowIfNull(original);
        if (ReferenceEquals(replacement, original) || Recorded(original) is not { } source || Recorded(replacement) is not null) return;
        if (source != replacement.Name) replacement.Metadata.Add(new(Key, source));
    }
}
