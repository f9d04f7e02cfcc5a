using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>What a pattern may look at besides the nodes: the model, the graph being rewritten, its opsets, the pass context.</summary>
public sealed class RewriteContext
{
    public RewriteContext(Model model, Graph graph, PassContext pass, Function? function = null)
    {
        Model = model;
        Graph = graph;
        Pass = pass;
        Function = function;
    }

    public Model Model { get; }
    public Graph Graph { get; }
    public PassContext Pass { get; }

    /// <summary>The function whose body (or subgraph of it) is being rewritten; null in the main graph.</summary>
    public Function? Function { get; }

    /// <summary>The opset version in force for <paramref name="domain"/> (a function's own imports first), or null.</summary>
    public long? Opset(string domain = "")
    {
        string d = domain == "ai.onnx" ? "" : domain;
        if (Function?.OpsetImports.FirstOrDefault(o => (o.Domain == "ai.onnx" ? "" : o.Domain) == d) is { } own) return own.Version;
        return Model.GetOpset(d);
    }

    /// <summary>
    /// Null when the default-domain opset is at least <paramref name="minimum"/>, else a reason for
    /// <see cref="MatchResult.Fail"/>: "LayerNormalization needs opset 17; the model has 13".
    /// </summary>
    public string? RequireOpset(long minimum, string targetOp, string domain = "")
    {
        long? have = Opset(domain);
        if (have >= minimum) return null;
        string d = domain is "" or "ai.onnx" ? "" : $" of {domain}";
        return $"{targetOp} needs opset {minimum}{d}; the model has {(have is null ? "none" : have.ToString())}";
    }
}
