using OnnxQuant.Ir;
using OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

namespace OnnxQuant.Passes.Canonicalization;

/// <summary>
/// Raises the model's ai.onnx opset import to <see cref="UpgradeOpsetOptions.TargetOpset"/>, rewriting every node whose
/// operator changed signature or meaning on the way, so that the upgraded graph computes what the original computed.
/// </summary>
/// <remarks>
/// <para>Identity relied on: for each op, the schema a node runs under is the newest <c>since_version</c> not above
/// the model's opset (<see cref="OpsetHistory"/>). Walking the op's schema versions up to the target, every change that
/// only widened types or added an attribute/optional input whose default keeps the old behaviour needs nothing; every
/// breaking change is rewritten by its converter (under OpsetUpgrade/), which preserves the node's outputs exactly
/// (attributes moved to constant inputs, deprecated ops replaced by their successor, old axis semantics spelled out).
/// </para>
/// <para>Never downgrades: a model at or above the target is left alone (and says so). A node whose op this table does
/// not know, or whose op changed in a way no converter handles, stops the pass with an error naming the node, before
/// anything is modified. Nodes of other domains are untouched; subgraphs (If/Loop/Scan bodies) are converted with the
/// model; model-local functions keep their own opset imports and are not converted (reported). The IR version is raised
/// to the minimum the target opset requires (IR 10 for opset 21), never above 13 (ONNX Runtime 1.31).</para>
/// <para>Sources: ONNX docs/Changelog.md and onnx/version_converter (whose adapters we learned from, not copied).</para>
/// </remarks>
public sealed class UpgradeOpsetPass : Pass<UpgradeOpsetOptions>
{
    /// <summary>The highest IR version ONNX Runtime 1.31 reads.</summary>
    private const long MaxIrVersion = 13;

    public override string Name => "upgrade-opset";
    public override string Summary => "Raise the ai.onnx opset to a target (default 21), rewriting ops whose signature or meaning changed";

    public override PassResult Run(Model model, UpgradeOpsetOptions options, PassContext context)
    {
        int target = options.TargetOpset;
        if (target > OpsetHistory.NewestKnownOpset || target < OpsetHistory.OldestSupportedOpset)
            throw new OnnxQuantException(
                $"upgrade-opset: target opset {target} is outside what this pass knows " +
                $"({OpsetHistory.OldestSupportedOpset} to {OpsetHistory.NewestKnownOpset}). Choose a target in that range.");
        if (model.GetOpset("") is not long from)
        {
            context.Log("upgrade-opset: the model imports no ai.onnx opset; nothing to upgrade.");
            return PassResult.Unchanged;
        }
        if (from >= target)
        {
            if (from > target)
            {
                context.Log($"upgrade-opset: the model is at opset {from}, above the target {target}; left alone (this pass never downgrades).");
                context.Count("newer-than-target");
            }
            return PassResult.Unchanged;
        }
        if (from < OpsetHistory.OldestSupportedOpset)
            throw new OnnxQuantException(
                $"upgrade-opset: the model is at ai.onnx opset {from}; upgrading from below opset " +
                $"{OpsetHistory.OldestSupportedOpset} is not supported (ONNX Runtime does not run it either). " +
                "Re-export the model at a newer opset.");

        var upgrade = new UpgradeContext(model, from, target, context);
        CheckGraph(model.Graph, upgrade);
        int converted = UpgradeGraph(model.Graph, upgrade);

        model.SetOpset("", target);
        long neededIr = Math.Min(OpsetHistory.MinimumIrVersion(target), MaxIrVersion);
        if (model.IrVersion < neededIr)
        {
            context.Log($"upgrade-opset: IR version {model.IrVersion} → {neededIr} (required by opset {target}).");
            model.IrVersion = neededIr;
        }
        if (model.Functions.Count > 0)
        {
            context.Log($"upgrade-opset: {model.Functions.Count} model-local function(s) keep their own opset imports " +
                        "and were not converted.");
            context.Count("functions-not-converted", model.Functions.Count);
        }
        context.Count("nodes-converted", converted);
        context.Log($"upgrade-opset: opset {from} → {target}, {converted} node conversion(s).");
        return PassResult.Changed;
    }

    /// <summary>
    /// Refuses up front, before any edit, nodes whose op is unknown, changed without a converter, or that a converter
    /// cannot take (so a refused model is left as it was).
    /// </summary>
    private static void CheckGraph(Graph graph, UpgradeContext upgrade)
    {
        foreach (var node in graph.Nodes)
        {
            if (node.IsDefaultDomain)
            {
                var row = OpsetHistory.Find(node.OpType)
                    ?? throw new OnnxQuantException(
                        UpgradeErrors.Describe(node, upgrade.FromOpset, upgrade.TargetOpset) +
                        $": {node.OpType} is not an ai.onnx operator this pass knows (opsets up to " +
                        $"{OpsetHistory.NewestKnownOpset}), so it cannot tell whether its meaning changed. " +
                        "Replace it with standard operators or move it to a custom domain.");
                int schema = row.SchemaAt(upgrade.FromOpset)
                    ?? throw new OnnxQuantException(
                        UpgradeErrors.Describe(node, upgrade.FromOpset, upgrade.TargetOpset) +
                        $": {node.OpType} does not exist at opset {upgrade.FromOpset} (its first ai.onnx version is " +
                        $"opset {row.Versions[0]}), so its meaning at the model's opset is unknown. Check the model's " +
                        "opset import, or replace the node with standard operators.");
                for (int? v = row.NextBreaking(schema, upgrade.TargetOpset); v is int change;
                     v = row.NextBreaking(change, upgrade.TargetOpset))
                {
                    var converter = OpConverters.Find(node.OpType, change)
                        ?? throw new OnnxQuantException(
                            UpgradeErrors.Describe(node, upgrade.FromOpset, upgrade.TargetOpset) +
                            $": {node.OpType} changed at opset {change} ({OpsetHistory.Describe(node.OpType, change)}) " +
                            $"and this pass has no conversion for that change. Choose a target opset below {change}, " +
                            "or re-export the model at the target opset.");
                    if (converter.Refusal(node, change, upgrade) is { } refusal) throw refusal;
                    if (row.DeprecatedAt == change) break;
                }
            }
            foreach (var sub in node.Subgraphs) CheckGraph(sub, upgrade);
        }
    }

    /// <summary>Upgrades every ai.onnx node of a graph and of its subgraphs; returns the number of conversions.</summary>
    private static int UpgradeGraph(Graph graph, UpgradeContext upgrade)
    {
        int converted = 0;
        foreach (var node in graph.Nodes.ToList())
        {
            upgrade.Pass.Cancellation.ThrowIfCancellationRequested();
            if (node.Graph != graph) continue;
            foreach (var sub in node.Subgraphs.ToList()) converted += UpgradeGraph(sub, upgrade);
            if (!node.IsDefaultDomain) continue;
            int schema = OpsetHistory.Find(node.OpType)!.SchemaAt(upgrade.FromOpset)!.Value;
            converted += UpgradeNode(node, schema, upgrade);
            // Helper nodes were built for the schema of the step that made them; take them the rest of the way.
            for (var created = upgrade.TakeCreated(); created.Count > 0; created = upgrade.TakeCreated())
                foreach (var (helper, version) in created)
                    if (helper.Graph is not null) converted += UpgradeNode(helper, version, upgrade);
        }
        return converted;
    }

    private static int UpgradeNode(Node node, int schema, UpgradeContext upgrade)
    {
        int converted = 0;
        var current = node;
        int version = schema;
        while (OpsetHistory.Find(current.OpType) is { } row && row.NextBreaking(version, upgrade.TargetOpset) is int change)
        {
            var converter = OpConverters.Find(current.OpType, change)
                ?? throw new OnnxQuantException(
                    UpgradeErrors.Describe(current, upgrade.FromOpset, upgrade.TargetOpset) +
                    $": {current.OpType} changed at opset {change} ({OpsetHistory.Describe(current.OpType, change)}) " +
                    "and this pass has no conversion for that change.");
            string op = current.OpType;
            var result = converter.Convert(current, change, upgrade);
            if (result.Version < change)
                throw new InvalidOperationException($"Internal error: the {op}@{change} converter went back to {result.Version}.");
            upgrade.Pass.Count($"{op}@{change}");
            converted++;
            current = result.Node;
            version = result.Version;
        }
        return converted;
    }
}
