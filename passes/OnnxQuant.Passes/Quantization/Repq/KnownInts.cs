using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization.Repq;

/// <summary>
/// The values of a small int64 tensor when they follow from constants and known dimensions: a constant, Shape of a
/// value whose dimensions are known (start/end attributes honoured), and Gather (axis 0, constant indices), Unsqueeze,
/// Squeeze, Concat (axis 0), Add, Sub, Mul and Div (integer, truncating, as ONNX) of such values. Exporters compute
/// a fused qkv's chunk bounds that way from Shape(qkv); fold-constants cannot fold them while the batch dimension is
/// free. Null for anything else.
/// </summary>
internal static class KnownInts
{
    /// <summary>The values, or null when any of them is unknown.</summary>
    public static long[]? Of(Value? value) => Partial(value, 0) is { } values && values.All(v => v is not null) ? values.Select(v => v!.Value).ToArray() : null;

    /// <summary>The elements, each null where unknown (a free dimension's Shape entry), or null when not even the count is known.</summary>
    private static long?[]? Partial(Value? value, int depth)
    {
        if (value is null || depth > 16) return null;
        if (value.Const is { } c) return c.ElementType is DataType.Int64 or DataType.Int32 ? c.ToInt64Array().Select(v => (long?)v).ToArray() : null;
        if (value.Producer is not { IsDefaultDomain: true } p) return null;
        switch (p.OpType)
        {
            case "Shape":
            {
                if (p.Inputs[0]?.Shape is not { } shape) return null;
                long rank = shape.Rank, start = p.GetInt("start", 0), end = p.GetInt("end", rank);
                start = Math.Clamp(start < 0 ? start + rank : start, 0, rank);
                end = Math.Clamp(end < 0 ? end + rank : end, 0, rank);
                var dims = new List<long?>();
                for (long i = start; i < end; i++) dims.Add(shape[(int)i].IsKnown ? shape[(int)i].Value!.Value : null);
                return dims.ToArray();
            }
            case "Gather" when p.GetInt("axis", 0) == 0:
            {
                if (Partial(p.Inputs[0], depth + 1) is not { } data || Of(p.Inputs[1]) is not { } indices) return null;
                var result = new long?[indices.Length];
                for (int i = 0; i < indices.Length; i++)
                {
                    long j = indices[i] < 0 ? indices[i] + data.Length : indices[i];
                    if (j < 0 || j >= data.Length) return null;
                    result[i] = data[j];
                }
                return result;
            }
            case "Unsqueeze" or "Squeeze" or "Identity":
                return Partial(p.Inputs[0], depth + 1);
            case "Concat" when p.GetInt("axis", 0) == 0:
            {
                var all = new List<long?>();
                foreach (var input in p.Inputs)
                {
                    if (Partial(input, depth + 1) is not { } part) return null;
                    all.AddRange(part);
                }
                return all.ToArray();
            }
            case "Add" or "Sub" or "Mul" or "Div":
            {
                if (Partial(p.Inputs[0], depth + 1) is not { } a || Partial(p.Inputs[1], depth + 1) is not { } b) return null;
                if (a.Length != b.Length && a.Length != 1 && b.Length != 1) return null;
                var result = new long?[Math.Max(a.Length, b.Length)];
                for (int i = 0; i < result.Length; i++)
                {
                    if (a[a.Length == 1 ? 0 : i] is not { } x || b[b.Length == 1 ? 0 : i] is not { } y || p.OpType == "Div" && y == 0) continue;
                    result[i] = p.OpType switch { "Add" => x + y, "Sub" => x - y, "Mul" => x * y, _ => x / y };
                }
                return result;
            }
            default:
                return null;
        }
    }
}
