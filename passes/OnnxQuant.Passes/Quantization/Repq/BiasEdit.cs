using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Quantization.Repq;

/// <summary>
/// Subtracts a per-output-channel vector from a linear layer's bias: Gemm's C (divided by β), the constant of an Add
/// that alone reads a MatMul's output (x·B + c written as two nodes), or a new Add after the MatMul (which takes over
/// the name of a graph output). New constants
/// only; shared ones are never changed in place.
/// </summary>
internal static class BiasEdit
{
    public static void Subtract(Rewriter rewriter, Node node, double[] correction)
    {
        int n = correction.Length;
        if (node.OpType == "Gemm")
        {
            float beta = node.GetFloat("beta", 1f);
            if (node.Input(2) is { Const: { } c } bias)
            {
                var values = Broadcast(c.ToFloatArray(), n);
                for (int i = 0; i < n; i++) values[i] = (float)(values[i] - correction[i] / beta);
                rewriter.ReplaceInput(node, 2, rewriter.AddConstant(TensorConversions.FromFloats(c.ElementType, values, [n]), bias.Name));
                return;
            }
            if (node.Inputs.Count == 2 && beta != 0)
            {
                rewriter.SetInput(node, 2, rewriter.AddConstant(Tensor.FromFloats(correction.Select(v => (float)(-v / beta)).ToArray(), n), rewriter.FreshName((node.Name ?? "gemm") + "_bias")));
                return;
            }
        }
        var output = node.Outputs[0]!;
        if (output.Uses.Count == 1 && !output.IsAnyGraphOutput && output.Uses[0].Node is { OpType: "Add", IsDefaultDomain: true } add
            && add.Input(1 - output.Uses[0].InputIndex) is { Const: { ElementType: DataType.Float } t } constant && t.ElementCount == n
            && t.Dims.Take(t.Rank - 1).All(d => d == 1) && constant.Uses.Count == 1)
        {
            var values = t.ToFloatArray();
            for (int i = 0; i < n; i++) values[i] = (float)(values[i] - correction[i]);
            rewriter.ReplaceInput(add, 1 - output.Uses[0].InputIndex, rewriter.AddConstant(TensorConversions.FromFloats(t.ElementType, values, t.Dims.ToArray()), constant.Name));
            return;
        }
        var uses = output.Uses.ToList();
        var delta = rewriter.AddConstant(Tensor.FromFloats(correction.Select(v => (float)-v).ToArray(), n), rewriter.FreshName((node.Name ?? "matmul") + "_repq_bias"));
        var addNode = new Node("Add", [output, delta], 1, "", name: rewriter.FreshName((node.Name ?? "matmul") + "_repq_bias_add"),
            outputNames: [rewriter.FreshName((output.Name ?? "y") + "_biased")]);
        addNode.Output.Type = output.Type;
        rewriter.InsertAfter(node, addNode);
        foreach (var use in uses) rewriter.ReplaceInput(use.Node, use.InputIndex, addNode.Output);
        // A graph output: the Add takes over its name and place.
        rewriter.TakeOverGraphOutput(output, addNode.Output);
    }

    private static float[] Broadcast(float[] values, int n) => values.Length == n ? values : Enumerable.Repeat(values[0], n).ToArray();
}
