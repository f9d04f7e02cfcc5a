using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization.Diffusion;

/// <summary>
/// The nodes a quantization pass leaves float because of where they sit in a denoiser
/// (<see cref="DenoiserStructure"/>), with the reason recorded per node: <c>conditioning-path</c> or <c>output-layer</c>.
/// </summary>
public static class StructuralExclusions
{
    public static Dictionary<Node, string> Of(Graph graph, bool conditioningPath, bool outputLayers)
    {
        var reasons = new Dictionary<Node, string>();
        if (outputLayers)
            foreach (var n in DenoiserStructure.OutputLayers(graph)) reasons[n] = "output-layer";
        if (conditioningPath)
            foreach (var n in DenoiserStructure.ConditioningPath(graph)) reasons[n] = "conditioning-path";
        return reasons;
    }

    /// <summary>True when <paramref name="node"/> stays float; then it is reported as a stayed-float node with its reason.</summary>
    public static bool Skip(Dictionary<Node, string> reasons, Node node, PassContext context, string pass)
    {
        if (!reasons.TryGetValue(node, out var reason)) return false;
        string why = reason == "output-layer"
            ? "it is an output layer (a graph output follows it through no other linear layer; exclude-output-layers)"
            : "it is on the conditioning path (its input depends on no rank >= 3 graph input; exclude-conditioning-path)";
        StaysFloat.Report(context, pass, reason, node, why, reason);
        return true;
    }
}
