using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization;

/// <summary>
/// Turns <c>Constant</c> nodes into constant values (initializers) of their graph, so that every weight is found the
/// same way, as <see cref="Value.Const"/>, whether the exporter wrote an initializer or a node (PP-OCR writes all its
/// weights as Constant nodes).
/// <para>Identity: a Constant node's output is its tensor, whichever <c>value*</c> attribute holds it (value,
/// sparse_value, value_float(s), value_int(s), value_string(s)); an initializer with the same tensor is read the same
/// way by every consumer. A sparse tensor stays sparse (written as a sparse initializer).</para>
/// <para>Preconditions: none. The new constant takes the node output's name, so names and graph outputs are
/// unchanged.</para>
/// <para>Does not fire: in function bodies, which cannot hold constants (counted as <c>skipped-in-function</c>); on a
/// Constant node whose value is a reference to a function attribute; on one whose output an inner graph lists as its
/// output (counted as <c>skipped</c>); in subgraphs when <see cref="ConstantsToValuesOptions.Subgraphs"/> is off.</para>
/// </summary>
public sealed class ConstantsToValuesPass : Pass<ConstantsToValuesOptions>
{
    public override string Name => "constants";

    public override string Summary => "Turn Constant nodes into constant values (initializers) of their graph.";

    public override PassResult Run(Model model, ConstantsToValuesOptions options, PassContext context)
    {
        var listed = ValueRules.ListedByInnerGraphs(model);
        bool changed = false;
        foreach (var scope in GraphScope.All(model, includeFunctions: true))
        {
            if (!options.Subgraphs && scope.Graph.OwnerNode is not null && !scope.InFunction) continue;
            foreach (var node in scope.Graph.Nodes)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                if (!ConstantNode.IsConstantNode(node)) continue;
                if (scope.InFunction)
                {
                    context.Count("skipped-in-function");
                    continue;
                }
                if (ConstantNode.TryGetTensor(node) is not { } tensor || node.Outputs.Count != 1 || node.Outputs[0] is not { } output
                    || listed.Contains(output))
                {
                    context.Count("skipped");
                    continue;
                }
                Lift(scope.Graph, node, output, tensor);
                context.Count("lifted");
                changed = true;
            }
        }
        return PassResult.From(changed);
    }

    private static void Lift(Graph graph, Node node, Value output, Tensor tensor)
    {
        // The constant is created under the output's own name; the name is then briefly held by two values, and
        // stops being ambiguous when the node goes.
        var constant = graph.AddConstant(tensor, output.Name);
        constant.DocString = output.DocString;
        constant.Metadata.AddRange(output.Metadata);
        output.ReplaceAllUsesWith(constant);
        graph.Remove(node);
    }
}
