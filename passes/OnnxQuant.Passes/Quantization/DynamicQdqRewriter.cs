using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Quantization.Rounding;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// The edits of <see cref="InsertDynamicQdqPass"/> on one graph: one DynamicQuantizeLinear per activation tensor,
/// one int8 [K, N] weight per (weight, transposed), and per node MatMulInteger → Cast → Mul(·, Mul(s_x, s_w)) [→ Add].
/// The operand order is the one ORT's MatMulIntegerToFloatFusion reads (the scale Mul's first input is A's scale).
/// Weights are read through <see cref="LinearLayer"/> and rounded by <paramref name="rounder"/>; every edit goes through
/// the <see cref="Rewriter"/>.
/// </summary>
/// <remarks>
/// <paramref name="weightBits"/> 4 stores each weight as opset-21 int4 codes in [−7, 7] (half the bytes) followed by
/// Cast(to int8): the values MatMulInteger reads are exactly the int4 codes, ONNX Runtime folds the Cast of the
/// constant at session load and then fuses DynamicQuantizeMatMul as for int8 weights, so the step runs MLAS's int8 GEMM
/// (at width 128 faster than MatMulNBits; docs/diffusion.md, "Speed"). Per column only (a [N] scale is what
/// MatMulIntegerToFloat takes), so no blocks along K.
/// </remarks>
/// <remarks>
/// <paramref name="activationQuantizer"/> replaces DynamicQuantizeLinear for an activation (insert-timestep-qdq: a
/// QuantizeLinear whose scale and zero point are selected from the timestep); it returns x_q (uint8), s_x and z_x
/// (scalars), the same three values, so the MatMulInteger → Cast → Mul form and ORT's fusion of it are unchanged.
/// </remarks>
internal sealed class DynamicQdqRewriter(Graph graph, bool perChannel, PassContext context, string pass, IWeightRounder rounder,
    Func<Value, Rewriter, ActivationQuantization?>? activationQuantizer = null, int weightBits = 8)
{
    private readonly Rewriter _rewriter = new(graph);
    private readonly record struct Weight(Value Quantized, Value Scale, Value ZeroPoint);

    private readonly Dictionary<Value, ActivationQuantization> _activations = [];
    private readonly Dictionary<(Value, bool), Weight> _weights = [];

    public bool TryQuantize(Node node)
    {
        string? why = Check(node, out var layer, out Value? bias);
        if (why is not null)
        {
            StaysFloat.Report(context, pass, "quantize-dynamic", node, why, why.Contains("float16", StringComparison.Ordinal) ? "skipped-float16" : "skipped");
            return false;
        }
        if (QuantizeActivation(node.Inputs[0]!) is not { } x)
        {
            StaysFloat.Report(context, pass, "quantize-activation", node, "its input has no calibrated range", "no-range");
            return false;
        }
        var w = QuantizeWeight(layer!);
        string hint = node.Name ?? node.OpType;
        var matMul = new Node("MatMulInteger", [x.Quantized, w.Quantized, x.ZeroPoint, w.ZeroPoint], 1, "",
            name: _rewriter.FreshName(hint + "_MatMulInteger"), outputNames: [_rewriter.FreshName(hint + "_int32")]);
        NodeOrigin.Inherit(matMul, node);
        var cast = new Node("Cast", [matMul.Output], 1, "", [Attribute.Int("to", (long)DataType.Float)],
            _rewriter.FreshName(hint + "_Cast"), [_rewriter.FreshName(hint + "_int32_float")]);
        var scale = new Node("Mul", [x.Scale, w.Scale], 1, "", name: _rewriter.FreshName(hint + "_scale_Mul"),
            outputNames: [_rewriter.FreshName(hint + "_scale")]);
        var product = new Node("Mul", [cast.Output, scale.Output], 1, "", name: _rewriter.FreshName(hint + "_Mul"),
            outputNames: [_rewriter.FreshName(hint + "_product")]);
        Node last = product;
        Node? add = null;
        if (bias is not null)
        {
            add = new Node("Add", [product.Output, bias], 1, "", name: _rewriter.FreshName(hint + "_bias_Add"),
                outputNames: [_rewriter.FreshName(hint + "_biased")]);
            last = add;
        }
        var original = node.Output;
        matMul.Output.Type = new TensorType(DataType.Int32, original.Shape);
        cast.Output.Type = new TensorType(DataType.Float, original.Shape);
        product.Output.Type = cast.Output.Type;
        if (add is not null) add.Output.Type = cast.Output.Type;
        foreach (var n in new[] { matMul, cast, scale, product, add })
            if (n is not null) _rewriter.InsertBefore(node, n);
        last.Output.Type = original.Type ?? last.Output.Type;
        _rewriter.ReplaceAllUsesWith(original, last.Output);
        _rewriter.RemoveDead([node]);
        return true;
    }

    /// <summary>Null when <paramref name="node"/> can be rewritten, else why not.</summary>
    private string? Check(Node node, out LinearLayer? layer, out Value? bias)
    {
        layer = null;
        bias = null;
        if (node.Inputs.Count < 2 || node.Inputs[0] is not { } x || node.Inputs[1] is not { } w) return "it lacks an input";
        if (x.IsConstant) return "its first input is a constant";
        if (w.Const is not { } wt) return $"its weight {w} is not a constant";
        if (wt.ElementType == DataType.Float16 || x.ElementType == DataType.Float16)
            return "it is float16 (DynamicQuantizeLinear takes float32 only)";
        if (wt.ElementType != DataType.Float) return $"its weight {w} is {wt.ElementType.OnnxName()}, not float";
        if (x.ElementType is { } xt && xt != DataType.Float) return $"its input is {xt.OnnxName()}, not float";
        if (wt.Rank != 2) return $"its weight {w} has rank {wt.Rank}, not 2";
        if (LinearLayer.TryRead(node, out layer) is { } notLinear) return notLinear;
        if (layer!.Alpha != 1f) return "Gemm with alpha != 1";
        if (layer.Bias is { } c)
        {
            // MatMulIntegerToFloat adds a constant [N] bias after the scale Mul: C must be one such row, at β = 1.
            if (c.Const is not { } ct || ct.ElementType != DataType.Float || ct.ElementCount != layer.N || ct.Dims[^1] != layer.N)
                return $"its C {c} is not a constant [N] vector";
            if (layer.Beta != 1f) return "Gemm with beta != 1";
            bias = c;
        }
        return null;
    }

    private ActivationQuantization? QuantizeActivation(Value x)
    {
        if (_activations.TryGetValue(x, out var done)) return done;
        if (activationQuantizer is not null)
        {
            if (activationQuantizer(x, _rewriter) is not { } custom) return null;
            context.Count("activations");
            return _activations[x] = custom;
        }
        string hint = x.Name ?? "x";
        var q = new Node("DynamicQuantizeLinear", [x], 3, "", name: _rewriter.FreshName(hint + "_DynamicQuantizeLinear"),
            outputNames: [_rewriter.FreshName(hint + "_quantized"), _rewriter.FreshName(hint + "_scale"), _rewriter.FreshName(hint + "_zero_point")]);
        q.Outputs[0]!.Type = new TensorType(DataType.UInt8, x.Shape);
        q.Outputs[1]!.Type = new TensorType(DataType.Float, new Shape());
        q.Outputs[2]!.Type = new TensorType(DataType.UInt8, new Shape());
        _rewriter.InsertAfterProducer(x, q);
        context.Count("activations");
        return _activations[x] = new ActivationQuantization(q.Outputs[0]!, q.Outputs[1]!, q.Outputs[2]!);
    }

    /// <summary>B as int8 [K, N] (a transB weight stored transposed), symmetric [−127, 127] (int4: [−7, 7] stored as int4
    /// and cast to int8), per column or per tensor.</summary>
    private Weight QuantizeWeight(LinearLayer layer)
    {
        var w = layer.Weight;
        if (_weights.TryGetValue((w, layer.TransB), out var done)) return done;
        long rows = layer.K, cols = layer.N;
        var rounded = rounder.Round(layer.ReadRows(), layer.N, layer.K,
            new WeightGrid(weightBits, WeightScaleRule.NarrowSymmetric, layer.K, !perChannel, DataType.Float), layer);
        // Rows are B's columns: back to [K, N].
        var q = AxisRows.Of([rows, cols], 1).ToStored<sbyte>(rounded.Codes.Select(c => (sbyte)(c - rounded.DefaultZeroPoint)).ToArray());
        float[] scales = perChannel ? rounded.Scales : [rounded.Scales[0]];
        long channels = scales.Length;
        string hint = w.Name ?? "w";
        long[] scaleDims = perChannel ? [channels] : [];
        var weight = new Weight(weightBits == 8
                ? _rewriter.AddWeight(Tensor.FromSpan(DataType.Int8, q, [rows, cols]), _rewriter.FreshName(hint + "_quantized"))
                : Int4AsInt8(q, rows, cols, hint),
            _rewriter.AddWeight(Tensor.FromSpan(DataType.Float, scales, scaleDims), _rewriter.FreshName(hint + "_scale")),
            _rewriter.AddWeight(Tensor.FromSpan(DataType.Int8, new sbyte[channels], scaleDims), _rewriter.FreshName(hint + "_zero_point")));
        context.Count("weights");
        return _weights[(w, layer.TransB)] = weight;
    }

    /// <summary>int4 codes [K, N] (packed two per byte, opset 21) → Cast(to int8): the int8 B that MatMulInteger reads.</summary>
    private Value Int4AsInt8(sbyte[] codes, long rows, long cols, string hint)
    {
        var packed = Tensor.FromRaw(DataType.Int4, [rows, cols], Ir.Numerics.SubBytePacking.Pack(codes.Select(c => (int)c).ToArray(), 4));
        var int4 = _rewriter.AddWeight(packed, _rewriter.FreshName(hint + "_int4"));
        var cast = new Node("Cast", [int4], 1, "", [Attribute.Int("to", (long)DataType.Int8)],
            _rewriter.FreshName(hint + "_int4_Cast"), [_rewriter.FreshName(hint + "_quantized")]);
        cast.Output.Type = new TensorType(DataType.Int8, new Shape([rows, cols]));
        _rewriter.InsertAtFront(cast);
        return cast.Output;
    }
}

/// <summary>An activation as MatMulInteger reads it: x_q (uint8), its scale s_x and zero point z_x (scalars).</summary>
internal readonly record struct ActivationQuantization(Value Quantized, Value Scale, Value ZeroPoint);
