using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// The edits of <see cref="DynamicQdqInsertionPass"/> on one graph: one DynamicQuantizeLinear per activation tensor,
/// one int8 [K, N] weight per (weight, transposed), and per node MatMulInteger → Cast → Mul(·, Mul(s_x, s_w)) [→ Add].
/// The operand order is the one ORT's MatMulIntegerToFloatFusion reads (the scale Mul's first input is A's scale).
/// </summary>
internal sealed class DynamicQdqRewriter(Graph graph, bool perChannel, PassContext context, string pass)
{
    private readonly record struct Dynamic(Value Quantized, Value Scale, Value ZeroPoint);
    private readonly record struct Weight(Value Quantized, Value Scale, Value ZeroPoint);

    private readonly Dictionary<Value, Dynamic> _activations = [];
    private readonly Dictionary<(Value, bool), Weight> _weights = [];

    public bool TryQuantize(Node node)
    {
        string? why = Check(node, out bool transB, out Value? bias);
        if (why is not null)
        {
            StaysFloat.Report(context, pass, "quantize-dynamic", node, why, why.Contains("float16", StringComparison.Ordinal) ? "skipped-float16" : "skipped");
            return false;
        }
        var x = QuantizeActivation(node.Inputs[0]!);
        var w = QuantizeWeight(node.Inputs[1]!, transB);
        string hint = node.Name ?? node.OpType;
        var matMul = new Node("MatMulInteger", [x.Quantized, w.Quantized, x.ZeroPoint, w.ZeroPoint], 1, "",
            name: graph.FreshName(hint + "_MatMulInteger"), outputNames: [graph.FreshName(hint + "_int32")]);
        var cast = new Node("Cast", [matMul.Output], 1, "", [Attribute.Int("to", (long)DataType.Float)],
            graph.FreshName(hint + "_Cast"), [graph.FreshName(hint + "_int32_float")]);
        var scale = new Node("Mul", [x.Scale, w.Scale], 1, "", name: graph.FreshName(hint + "_scale_Mul"),
            outputNames: [graph.FreshName(hint + "_scale")]);
        var product = new Node("Mul", [cast.Output, scale.Output], 1, "", name: graph.FreshName(hint + "_Mul"),
            outputNames: [graph.FreshName(hint + "_product")]);
        Node last = product;
        Node? add = null;
        if (bias is not null)
        {
            add = new Node("Add", [product.Output, bias], 1, "", name: graph.FreshName(hint + "_bias_Add"),
                outputNames: [graph.FreshName(hint + "_biased")]);
            last = add;
        }
        var original = node.Output;
        matMul.Output.Type = new TensorType(DataType.Int32, original.Shape);
        cast.Output.Type = new TensorType(DataType.Float, original.Shape);
        product.Output.Type = cast.Output.Type;
        if (add is not null) add.Output.Type = cast.Output.Type;
        foreach (var n in new[] { matMul, cast, scale, product, add })
            if (n is not null) graph.InsertBefore(node, n);
        last.Output.Type = original.Type ?? last.Output.Type;
        original.ReplaceAllUsesWith(last.Output);
        var oldInputs = node.Inputs.Where(v => v is not null).Select(v => v!).ToList();
        graph.Remove(node);
        foreach (var v in oldInputs) graph.RemoveConstantIfUnused(v);
        return true;
    }

    /// <summary>Null when <paramref name="node"/> can be rewritten, else why not.</summary>
    private string? Check(Node node, out bool transB, out Value? bias)
    {
        transB = false;
        bias = null;
        if (node.Inputs.Count < 2 || node.Inputs[0] is not { } x || node.Inputs[1] is not { } w) return "it lacks an input";
        if (x.IsConstant) return "its first input is a constant";
        if (w.Const is not { } wt) return $"its weight {w} is not a constant";
        if (wt.ElementType == DataType.Float16 || x.ElementType == DataType.Float16)
            return "it is float16 (DynamicQuantizeLinear takes float32 only)";
        if (wt.ElementType != DataType.Float) return $"its weight {w} is {wt.ElementType.OnnxName()}, not float";
        if (x.ElementType is { } xt && xt != DataType.Float) return $"its input is {xt.OnnxName()}, not float";
        if (wt.Rank != 2) return $"its weight {w} has rank {wt.Rank}, not 2";
        if (node.OpType == "Gemm")
        {
            if (node.GetInt("transA", 0) != 0) return "Gemm with transA";
            if (node.GetFloat("alpha", 1f) != 1f) return "Gemm with alpha != 1";
            transB = node.GetInt("transB", 0) != 0;
            if (node.Input(2) is { } c)
            {
                long n = wt.Dims[transB ? 0 : 1];
                if (c.Const is not { } ct || ct.ElementType != DataType.Float || ct.ElementCount != n || ct.Dims[^1] != n)
                    return $"its C {c} is not a constant [N] vector";
                if (node.GetFloat("beta", 1f) != 1f) return "Gemm with beta != 1";
                bias = c;
            }
        }
        return null;
    }

    private Dynamic QuantizeActivation(Value x)
    {
        if (_activations.TryGetValue(x, out var done)) return done;
        string hint = x.Name ?? "x";
        var q = new Node("DynamicQuantizeLinear", [x], 3, "", name: graph.FreshName(hint + "_DynamicQuantizeLinear"),
            outputNames: [graph.FreshName(hint + "_quantized"), graph.FreshName(hint + "_scale"), graph.FreshName(hint + "_zero_point")]);
        q.Outputs[0]!.Type = new TensorType(DataType.UInt8, x.Shape);
        q.Outputs[1]!.Type = new TensorType(DataType.Float, new Shape());
        q.Outputs[2]!.Type = new TensorType(DataType.UInt8, new Shape());
        if (x.Producer is { } producer && producer.Graph == graph) graph.InsertAfter(producer, q);
        else graph.InsertAfter(null, q);
        context.Count("activations");
        return _activations[x] = new Dynamic(q.Outputs[0]!, q.Outputs[1]!, q.Outputs[2]!);
    }

    /// <summary>W as int8 [K, N] (transposed first when <paramref name="transposed"/>), symmetric, per column or per tensor.</summary>
    private Weight QuantizeWeight(Value w, bool transposed)
    {
        if (_weights.TryGetValue((w, transposed), out var done)) return done;
        var t = w.Const!;
        float[] data = t.ToFloatArray();
        long rows = t.Dims[0], cols = t.Dims[1];
        if (transposed)
        {
            var tr = new float[data.Length];
            for (long r = 0; r < rows; r++)
                for (long c = 0; c < cols; c++) tr[c * rows + r] = data[r * cols + c];
            data = tr;
            (rows, cols) = (cols, rows);
        }
        var (q, scales) = QdqMath.SymmetricInt8(data, [rows, cols], perChannel ? 1 : -1);
        long channels = scales.Length;
        string hint = w.Name ?? "w";
        long[] scaleDims = perChannel ? [channels] : [];
        var weight = new Weight(
            graph.AddConstant(Tensor.FromSpan(DataType.Int8, q, [rows, cols]), graph.FreshName(hint + "_quantized")),
            graph.AddConstant(Tensor.FromSpan(DataType.Float, scales, scaleDims), graph.FreshName(hint + "_scale")),
            graph.AddConstant(Tensor.FromSpan(DataType.Int8, new sbyte[channels], scaleDims), graph.FreshName(hint + "_zero_point")));
        context.Count("weights");
        return _weights[(w, transposed)] = weight;
    }
}
