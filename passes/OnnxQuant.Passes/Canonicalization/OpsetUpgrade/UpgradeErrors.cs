using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>How upgrade errors name a node: op, node name, the graph it sits in, and the opsets involved.</summary>
internal static class UpgradeErrors
{
    public static string Describe(Node node, long from, long target)
    {
        string name = string.IsNullOrEmpty(node.Name) ? "(unnamed)" : $"'{node.Name}'";
        string where = node.Graph?.OwnerNode is { } owner
            ? $" in a subgraph of {owner.OpType} '{owner.Name ?? "(unnamed)"}'"
            : "";
        string output = node.Outputs.FirstOrDefault(o => o is not null)?.Name is { } o ? $" (output '{o}')" : "";
        return $"Cannot upgrade node {node.OpType} {name}{output}{where} from opset {from} to {target}";
    }
}
