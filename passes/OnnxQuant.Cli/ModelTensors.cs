using OnnxQuant.Ir;

namespace OnnxQuant.Cli;

/// <summary>Where a tensor of a model sits.</summary>
internal enum TensorSource
{
    /// <summary>A graph constant (ONNX initializer, or a lifted Constant node).</summary>
    Initializer,

    /// <summary>The value of a <c>Constant</c> node that was not lifted.</summary>
    ConstantNode,

    /// <summary>Any other tensor attribute (e.g. ConstantOfShape's value): not a parameter, but it may be external data.</summary>
    Attribute,
}

/// <summary>Every tensor stored in a model: constants and tensor attributes of all graphs, subgraphs and function bodies.</summary>
internal static class ModelTensors
{
    public static IEnumerable<(Tensor Tensor, TensorSource Source)> All(Model model)
    {
        foreach (var graph in model.AllGraphs())
        {
            foreach (var c in graph.Constants) yield return (c.Const!, TensorSource.Initializer);
            foreach (var node in graph.Nodes)
            {
                if (ConstantNode.TryGetTensor(node) is { } t)
                {
                    yield return (t, TensorSource.ConstantNode);
                    continue;
                }
                foreach (var a in node.Attributes)
                {
                    if (a.Value is Tensor one) yield return (one, TensorSource.Attribute);
                    else if (a.Value is Tensor[] many)
                        foreach (var m in many) yield return (m, TensorSource.Attribute);
                }
            }
        }
    }

    /// <summary>The external data files the model's tensors are mapped from (canonical paths), in first-use order.</summary>
    public static IReadOnlyList<string> ExternalDataFiles(Model model) =>
        All(model).Select(t => t.Tensor.Storage).OfType<MappedTensorStorage>().Select(s => s.FilePath).Distinct().ToList();
}
