using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Quantization.Repq;

/// <summary>
/// Writes a <see cref="Log2Quantizer"/> as standard ONNX float ops after a tensor A (≥ 0, e.g. attention
/// probabilities), reproducing its codes exactly. The code q = #{k : A ≤ T_k} is found by binary search over the
/// non-increasing thresholds, padded with −∞ to 2^(b+1) entries: q ≥ c exactly when A ≤ T_(c−1). Step b:
/// q = Where(A ≤ T_(2^b−1), 2^b, 0); steps j = b−1 … 0: q = Where(A ≤ Gather(T, q + 2^j − 1), q + 2^j, q). Then
/// Â = Gather(values, q). Comparisons and table reads are exact, so the graph's codes equal
/// <see cref="Log2Quantizer.Code"/> for every float input (tested on a dense grid). Needs opset 16 (LessOrEqual).
/// </summary>
internal static class Log2Export
{
    /// <summary>Inserts the ops after A's producer, makes every reader of A read Â, and returns Â.</summary>
    public static Value Insert(Rewriter rewriter, Value a, Log2Quantizer quantizer)
    {
        string hint = (a.Name ?? "a") + "_log2";
        int b = quantizer.Bits, levels = 1 << b;
        var uses = a.Uses.ToList();
        var padded = new float[2 * levels];
        Array.Fill(padded, float.NegativeInfinity);
        quantizer.Thresholds.CopyTo(padded, 0);
        var thresholds = rewriter.AddConstant(Tensor.FromFloats(padded, padded.Length), rewriter.FreshName(hint + "_thresholds"));
        var values = rewriter.AddConstant(Tensor.FromFloats(quantizer.Values, quantizer.Values.Length), rewriter.FreshName(hint + "_values"));
        Node last = a.Producer!;
        Node Add(Node node, DataType type)
        {
            node.Output.Type = new TensorType(type, a.Shape);
            rewriter.InsertAfter(last, node);
            last = node;
            return node;
        }
        Value Int64(long v) => rewriter.AddConstant(Tensor.FromInt64s([v]), rewriter.FreshName(hint + "_c"));

        var top = rewriter.AddConstant(Tensor.FromFloats([quantizer.Thresholds[levels - 1]]), rewriter.FreshName(hint + "_t_top"));
        var le = Add(new Node("LessOrEqual", [a, top], 1, "", name: rewriter.FreshName(hint + "_le"), outputNames: [rewriter.FreshName(hint + "_le")]), DataType.Bool);
        var q = Add(new Node("Where", [le.Output, Int64(levels), Int64(0)], 1, "", name: rewriter.FreshName(hint + "_q"), outputNames: [rewriter.FreshName(hint + "_q")]), DataType.Int64).Output;
        for (int j = b - 1; j >= 0; j--)
        {
            long step = 1L << j;
            var index = Add(new Node("Add", [q, Int64(step - 1)], 1, "", name: rewriter.FreshName(hint + "_index"), outputNames: [rewriter.FreshName(hint + "_index")]), DataType.Int64);
            var t = Add(new Node("Gather", [thresholds, index.Output], 1, "", name: rewriter.FreshName(hint + "_t"), outputNames: [rewriter.FreshName(hint + "_t")]), DataType.Float);
            var below = Add(new Node("LessOrEqual", [a, t.Output], 1, "", name: rewriter.FreshName(hint + "_le"), outputNames: [rewriter.FreshName(hint + "_le")]), DataType.Bool);
            var up = Add(new Node("Add", [q, Int64(step)], 1, "", name: rewriter.FreshName(hint + "_up"), outputNames: [rewriter.FreshName(hint + "_up")]), DataType.Int64);
            q = Add(new Node("Where", [below.Output, up.Output, q], 1, "", name: rewriter.FreshName(hint + "_q"), outputNames: [rewriter.FreshName(hint + "_q")]), DataType.Int64).Output;
        }
        var result = Add(new Node("Gather", [values, q], 1, "", name: rewriter.FreshName(hint + "_dequantize"), outputNames: [rewriter.FreshName(hint + "_quantized")]), DataType.Float);
        result.Output.Type = a.Type ?? new TensorType(DataType.Float, a.Shape);
        foreach (var use in uses) rewriter.ReplaceInput(use.Node, use.InputIndex, result.Output);
        return result.Output;
    }
}
