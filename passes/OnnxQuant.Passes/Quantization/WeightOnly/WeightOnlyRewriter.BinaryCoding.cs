using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Quantization.Rounding;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Quantization.WeightOnly;

/// <summary>
/// The export of binary-coded weights (<see cref="GptqtRounder"/>) as a standard-ONNX float decomposition (opset 21)
/// that feeds the unchanged MatMul/Gemm, in the source's [K, N] orientation:
/// <code>
/// Q   = DequantizeLinear(codes uint4 [1, K, N], 1, 0)            codes = Σᵢ bitᵢ·2^i, bitᵢ = 1 where bᵢ = +1
/// B   = Mod(Floor(Q · [2^−i]ᵢ), 2)                                [p, K, N], the planes' bits
/// Ŵ   = ReduceSum(B · expand(2α), axis 0) + expand(c − Σᵢ αᵢ)     = c + Σᵢ αᵢ·(2·bitᵢ − 1)
/// </code>
/// where expand turns a per-block [.., blocks, 1, N] constant into [.., K, N] (Expand, Reshape, Slice when the last
/// block is short). Storage: 4 bits per weight for the codes (uint4 is standard ONNX's narrowest) plus p + 1 floats
/// per block; the information is p bits per weight.
/// </summary>
internal sealed partial class WeightOnlyRewriter
{
    private readonly Dictionary<Key, Value> _binary = [];

    private Value BinaryCodedWeight(Key key, DataType floatType, LinearLayer layer, GptqtRounder rounder)
    {
        if (_binary.TryGetValue(key, out var done)) return done;
        var layout = Layout(key);
        float[] w = layout.ToRows<float>(key.Source.Const!.ToFloatArray());
        int n = (int)layout.RowCount, k = (int)layout.RowLength;
        var q = rounder.RoundBinary(w, n, k, _s.BlockFor(k), floatType, layer);
        _context.Count("binary-coded");
        return _binary[key] = EmitBinaryDecomposition(q, floatType, key.Source);
    }

    private Value EmitBinaryDecomposition(BinaryCodedRows q, DataType floatType, Value source)
    {
        string hint = source.Name ?? "w";
        int n = q.Rows, k = q.Columns, p = q.Planes, blocks = q.BlockCount, bs = q.BlockSize;
        var codes = new int[k * n];
        for (int r = 0; r < n; r++)
            for (int c = 0; c < k; c++) codes[c * n + r] = q.Patterns[(long)r * k + c];
        var doubled = new float[p * blocks * n];
        var bias = new float[blocks * n];
        for (int r = 0; r < n; r++)
            for (int b = 0; b < blocks; b++)
            {
                double offset = q.Offsets[r * blocks + b];
                for (int i = 0; i < p; i++)
                {
                    float a = q.Alphas[(r * blocks + b) * p + i];
                    doubled[(i * blocks + b) * n + r] = 2 * a;
                    offset -= a;
                }
                bias[b * n + r] = (float)offset;
            }

        Node? last = null;
        Value Emit(string op, Value?[] inputs, long[] dims, DataType type, params Attribute[] attributes)
        {
            var node = new Node(op, inputs, 1, "", attributes, _rewriter.FreshName($"{hint}_bcq_{op}"), [_rewriter.FreshName($"{hint}_bcq_{op.ToLowerInvariant()}")]);
            node.Output.Type = new TensorType(type, new Shape(dims));
            if (last is null) _rewriter.InsertAtFront(node);
            else _rewriter.InsertAfter(last, node);
            last = node;
            return node.Output;
        }
        Value Constant(Tensor t, string name) => _rewriter.AddConstant(t, _rewriter.FreshName($"{hint}_{name}"));
        Value Ints(string name, params long[] values) => Constant(Tensor.FromInt64s(values, values.Length), name);
        Value Expanded(Value perBlock, long[] leading, string name)
        {
            long[] full = [.. leading, blocks, bs, n], flat = [.. leading, (long)blocks * bs, n], cut = [.. leading, k, n];
            var e = Emit("Expand", [perBlock, Ints(name + "_expand_shape", full)], full, floatType);
            var v = Emit("Reshape", [e, Ints(name + "_reshape_shape", flat)], flat, floatType);
            if (blocks * bs == k) return v;
            return Emit("Slice", [v, Ints(name + "_starts", 0), Ints(name + "_ends", k), Ints(name + "_axes", leading.Length)], cut, floatType);
        }

        var data = Constant(Tensor.FromRaw(DataType.UInt4, [1, k, n], Ir.Numerics.SubBytePacking.Pack(codes, 4)), "bcq_codes");
        Record(source, "binary-coded codes (uint4)", data.Const!.ByteLength);
        var one = Constant(TensorConversions.FromFloats(floatType, [1f], []), "bcq_one");
        var zero = Constant(Tensor.FromRaw(DataType.UInt4, [], Ir.Numerics.SubBytePacking.Pack([0], 4)), "bcq_zero");
        var codesFloat = Emit("DequantizeLinear", [data, one, zero], [1, k, n], floatType);
        var powers = Constant(TensorConversions.FromFloats(floatType, Enumerable.Range(0, p).Select(i => MathF.Pow(2, -i)).ToArray(), [p, 1, 1]), "bcq_plane_divisors");
        var shifted = Emit("Mul", [codesFloat, powers], [p, k, n], floatType);
        var floored = Emit("Floor", [shifted], [p, k, n], floatType);
        var two = Constant(TensorConversions.FromFloats(floatType, [2f], []), "bcq_two");
        var bits = Emit("Mod", [floored, two], [p, k, n], floatType, Attribute.Int("fmod", 1));
        var alphas = Expanded(Constant(TensorConversions.FromFloats(floatType, doubled, [p, blocks, 1, n]), "bcq_doubled_alphas"), [p], "bcq_alphas");
        var planes = Emit("Mul", [bits, alphas], [p, k, n], floatType);
        var summed = Emit("ReduceSum", [planes, Ints("bcq_plane_axis", 0)], [k, n], floatType, Attribute.Int("keepdims", 0));
        var offsets = Expanded(Constant(TensorConversions.FromFloats(floatType, bias, [blocks, 1, n]), "bcq_offsets"), [], "bcq_offsets");
        return Emit("Add", [summed, offsets], [k, n], floatType);
    }
}
