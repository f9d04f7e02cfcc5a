using OnnxQuant.Ir;

namespace OnnxQuant.Runtime;

/// <summary>
/// Seeded synthetic inputs for a model, for numeric comparisons. Floats are uniform in [-1, 1); integer inputs that
/// index an embedding table (the indices of a Gather on a constant) are token ids in [0, rows); other integers are in
/// [0, 8). Free dimensions come from <c>shapes</c> or default to 1. An integer input named attention_mask (the
/// Hugging Face / ONNX Runtime GenAI convention: 1 = attend) is all ones, [batch, past + sequence] from input_ids and
/// the first past_key_values input unless its shape is given: random codes would mask at random, or make
/// GroupQueryAttention's sequence lengths invalid.
/// </summary>
public static class SampleInputs
{
    public static Dictionary<string, Tensor> ForModel(Model model, int seed, IReadOnlyDictionary<string, long[]>? shapes = null)
    {
        var random = new Random(seed);
        var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var input in model.Graph.Inputs)
        {
            if (input.Const is not null) continue;
            if (input.Type is not TensorType tt)
                throw new OnnxQuantException($"Input '{input.Name}' is not a tensor ({input.Type}); give its value explicitly.");
            long[] dims = shapes is not null && shapes.TryGetValue(input.Name!, out var given)
                ? given
                : (tt.Shape ?? throw new OnnxQuantException($"Input '{input.Name}' has unknown rank; give its shape with --shape."))
                    .Dims.Select(d => d.Value ?? 1).ToArray();
            if (input.Name == AttentionMask && tt.ElementType is DataType.Int64 or DataType.Int32) continue;
            feeds[input.Name!] = Create(tt.ElementType, dims, random, TokenLimit(input));
        }
        if (model.Graph.Inputs.FirstOrDefault(i => i.Name == AttentionMask && i.Const is null) is { Type: TensorType { ElementType: DataType.Int64 or DataType.Int32 } maskType })
            feeds[AttentionMask] = Ones(maskType.ElementType, AttentionMaskDims(feeds, shapes));
        return feeds;
    }

    /// <summary>The input that masks keys (1 = attend); random samples fill it with ones.</summary>
    public const string AttentionMask = "attention_mask";

    private static long[] AttentionMaskDims(Dictionary<string, Tensor> feeds, IReadOnlyDictionary<string, long[]>? shapes)
    {
        if (shapes is not null && shapes.TryGetValue(AttentionMask, out var given)) return given;
        var ids = feeds.GetValueOrDefault("input_ids")
            ?? throw new OnnxQuantException("attention_mask: no input_ids input to size it from; give its shape with --shape attention_mask=BATCH,LENGTH.");
        long past = feeds.Where(f => f.Key.StartsWith("past_key_values.", StringComparison.Ordinal) && f.Value.Rank == 4)
            .Select(f => f.Value.Dims[2]).FirstOrDefault();
        return [ids.Dims[0], (ids.Rank > 1 ? ids.Dims[1] : 1) + past];
    }

    private static Tensor Ones(DataType type, long[] dims)
    {
        long n = dims.Aggregate(1L, (a, d) => a * d);
        return type == DataType.Int64
            ? Tensor.FromInt64s(Enumerable.Repeat(1L, (int)n).ToArray(), dims)
            : Tensor.FromInt32s(Enumerable.Repeat(1, (int)n).ToArray(), dims);
    }

    /// <summary>Rows of the embedding table this integer input indexes, if it feeds a Gather on a constant.</summary>
    public static long? TokenLimit(Value input)
    {
        foreach (var use in input.Uses)
        {
            var node = use.Node;
            if (node.OpType == "Cast" && node.Outputs[0] is { } cast && TokenLimit(cast) is long viaCast) return viaCast;
            if (node.OpType == "Gather" && use.InputIndex == 1 && node.Inputs[0] is { } table
                && ConstantNode.ConstantOf(table) is { } t)
            {
                long axis = node.GetInt("axis", 0);
                if (axis < 0) axis += t.Rank;
                return t.Dims[(int)axis];
            }
        }
        return null;
    }

    public static Tensor Create(DataType type, long[] dims, Random random, long? intLimit = null)
    {
        long n = 1;
        foreach (long d in dims) n *= d;
        switch (type)
        {
            case DataType.Float:
                return Tensor.FromFloats(Enumerable.Range(0, (int)n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray(), dims);
            case DataType.Double:
                return Tensor.FromDoubles(Enumerable.Range(0, (int)n).Select(_ => random.NextDouble() * 2 - 1).ToArray(), dims);
            case DataType.Float16:
                return Tensor.FromSpan(DataType.Float16,
                    Enumerable.Range(0, (int)n).Select(_ => (Half)(random.NextDouble() * 2 - 1)).ToArray().AsSpan(), dims);
            case DataType.Int64:
                return Tensor.FromInt64s(Enumerable.Range(0, (int)n).Select(_ => random.NextInt64(intLimit ?? 8)).ToArray(), dims);
            case DataType.Int32:
                return Tensor.FromInt32s(Enumerable.Range(0, (int)n).Select(_ => (int)random.NextInt64(intLimit ?? 8)).ToArray(), dims);
            case DataType.Bool:
            case DataType.UInt8:
            case DataType.Int8:
                var bytes = new byte[n];
                for (int i = 0; i < n; i++) bytes[i] = (byte)(type == DataType.Bool ? random.Next(2) : random.Next(8));
                return Tensor.FromRaw(type, dims, bytes);
            default:
                throw new OnnxQuantException($"Cannot make sample inputs of type {type.OnnxName()}; give the input explicitly.");
        }
    }
}
