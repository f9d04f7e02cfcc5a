namespace OnnxQuant.Ir;

/// <summary>
/// Reads the tensor a <c>Constant</c> node produces, from whichever <c>value*</c> attribute it carries
/// (value, sparse_value, value_float(s), value_int(s), value_string(s)).
/// </summary>
public static class ConstantNode
{
    public static bool IsConstantNode(Node node) => node.OpType == "Constant" && node.IsDefaultDomain;

    /// <summary>The node's tensor, or null when it is not a Constant node or uses an attribute reference.</summary>
    public static Tensor? TryGetTensor(Node node)
    {
        if (!IsConstantNode(node) || node.Attributes.Count != 1) return null;
        var a = node.Attributes[0];
        return a.Value is null ? null : a.Name switch
        {
            "value" or "sparse_value" => a.AsTensor(),
            "value_float" => Tensor.FromFloats([a.AsFloat()]),
            "value_floats" => Tensor.FromFloats(a.AsFloats().ToArray(), a.AsFloats().Count),
            "value_int" => Tensor.FromInt64s([a.AsInt()]),
            "value_ints" => Tensor.FromInt64s(a.AsInts().ToArray(), a.AsInts().Count),
            "value_string" => Tensor.FromStrings([], [(byte[])a.Value]),
            "value_strings" => Tensor.FromStrings([((byte[][])a.Value).Length], (byte[][])a.Value),
            _ => null,
        };
    }

    /// <summary>The constant tensor behind a value: its own, or that of the Constant node producing it.</summary>
    public static Tensor? ConstantOf(Value value) =>
        value.Const ?? (value.Producer is { } p ? TryGetTensor(p) : null);
}
