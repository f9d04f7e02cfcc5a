using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// Element types and ranks the converters need (Clip's bounds take the input's type; Softmax needs to know whether
/// its axis is the last one), read from recorded types or derived through the producers of a value. Deliberately
/// small and conservative: an op not listed gives "unknown", and the converter then takes its general path or
/// refuses. Results are memoized; values created by converters are described by <see cref="Record"/>.
/// </summary>
internal sealed class ValueFacts
{
    private const int MaxDepth = 4000;

    private readonly Dictionary<Value, DataType?> _types = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Value, int?> _ranks = new(ReferenceEqualityComparer.Instance);
    private int _depth;

    /// <summary>Tells the facts about a value made by a converter (when its producer is not enough to derive them).</summary>
    public void Record(Value value, DataType? type, int? rank)
    {
        if (type is not null) _types[value] = type;
        if (rank is not null) _ranks[value] = rank;
    }

    public DataType? ElementType(Value? value)
    {
        if (value is null) return null;
        if (value.ElementType is { } known && known != DataType.Undefined) return known;
        if (_types.TryGetValue(value, out var cached)) return cached;
        if (_depth > MaxDepth) return null;
        _depth++;
        try
        {
            var result = value.Producer is { } p && p.IsDefaultDomain ? TypeFromProducer(p, value.OutputIndex) : null;
            _types[value] = result;
            return result;
        }
        finally { _depth--; }
    }

    public int? Rank(Value? value)
    {
        if (value is null) return null;
        if (value.Shape is { } shape) return shape.Rank;
        if (_ranks.TryGetValue(value, out var cached)) return cached;
        if (_depth > MaxDepth) return null;
        _depth++;
        try
        {
            var result = value.Producer is { } p && p.IsDefaultDomain ? RankFromProducer(p, value.OutputIndex) : null;
            _ranks[value] = result;
            return result;
        }
        finally { _depth--; }
    }

    /// <summary>The number of elements of a 1-D int64 value (a shape or an axes list), when it can be told.</summary>
    public long? Length(Value? value)
    {
        if (value is null) return null;
        if (ConstantNode.ConstantOf(value) is { } t) return t.Rank == 1 ? t.Dims[0] : t.Rank == 0 ? 1 : null;
        if (value.Shape is { Rank: 1 } s && s[0].Value is long n) return n;
        if (value.Producer is not { } p || !p.IsDefaultDomain || _depth > MaxDepth) return null;
        _depth++;
        try
        {
            switch (p.OpType)
            {
                case "Shape":
                    if (Rank(p.Inputs[0]) is not int r) return null;
                    long start = Normalize(p.GetInt("start", 0), r), end = Normalize(p.GetInt("end", r), r);
                    return Math.Max(0, Math.Min(end, r) - Math.Max(start, 0));
                case "Concat":
                    long sum = 0;
                    foreach (var input in p.Inputs)
                        if (Length(input) is long l) sum += l; else return null;
                    return sum;
                case "Cast" or "Identity" or "Abs" or "Neg":
                    return Length(p.Inputs[0]);
                case "Unsqueeze" when Rank(p.Inputs[0]) == 0:
                    return 1;
                default:
                    return null;
            }
        }
        finally { _depth--; }

        static long Normalize(long axis, int rank) => axis < 0 ? axis + rank : axis;
    }

    private DataType? TypeFromProducer(Node p, int outputIndex)
    {
        switch (p.OpType)
        {
            case "Cast":
                return p.GetAttribute("to")?.Value is long to ? (DataType)to : null;
            case "CastLike":
                return ElementType(p.Input(1));
            case "Where":
                return ElementType(p.Input(1)) ?? ElementType(p.Input(2));
            case "Shape" or "Size" or "ArgMax" or "ArgMin" or "NonZero" or "NonMaxSuppression":
                return DataType.Int64;
            case "TopK" when outputIndex == 1:
                return DataType.Int64;
            case "MaxPool" when outputIndex == 1:
                return DataType.Int64;
            case "Equal" or "Less" or "Greater" or "LessOrEqual" or "GreaterOrEqual" or "And" or "Or" or "Xor"
                or "Not" or "IsNaN" or "IsInf":
                return DataType.Bool;
            case "Dropout" when outputIndex == 1:
                return null;
            case "ConstantOfShape":
                return p.GetAttribute("value")?.Value is Tensor v ? v.ElementType : DataType.Float;
            case "Constant":
                return ConstantNode.TryGetTensor(p)?.ElementType;
            case "QuantizeLinear":
                return p.Input(2) is { } zp ? ElementType(zp) : DataType.UInt8;
            case "DequantizeLinear":
                return ElementType(p.Input(1));
            case "Range":
                return ElementType(p.Input(0));
            default:
                return SameTypeAsFirstInput.Contains(p.OpType) ? ElementType(p.Input(0)) : null;
        }
    }

    private int? RankFromProducer(Node p, int outputIndex)
    {
        switch (p.OpType)
        {
            case "Gemm" or "Flatten":
                return 2;
            case "Shape":
                return 1;
            case "Size":
                return 0;
            case "Constant":
                return ConstantNode.TryGetTensor(p)?.Rank;
            case "ConstantOfShape":
                return Length(p.Input(0)) is long n ? (int)n : null;
            case "Reshape":
                return Length(p.Input(1)) is long shapeLength ? (int)shapeLength : null;
            case "Expand":
                return Rank(p.Input(0)) is int er && Length(p.Input(1)) is long el ? Math.Max(er, (int)el) : null;
            case "Transpose":
                return p.GetInts("perm")?.Count ?? Rank(p.Input(0));
            case "MatMul":
                if (Rank(p.Input(0)) is not int a || Rank(p.Input(1)) is not int b) return null;
                if (a >= 2 && b >= 2) return Math.Max(a, b);
                if (a == 1 && b == 1) return 0;
                return Math.Max(a, b) - 1;
            case "Gather":
                return Rank(p.Input(0)) is int d && Rank(p.Input(1)) is int i ? d - 1 + i : null;
            case "Unsqueeze":
            {
                if (Rank(p.Input(0)) is not int r) return null;
                long? added = p.GetInts("axes")?.Count ?? Length(p.Input(1));
                return added is long k ? r + (int)k : null;
            }
            case "Squeeze":
            {
                if (Rank(p.Input(0)) is not int r) return null;
                long? removed = p.GetInts("axes")?.Count ?? (p.Input(1) is null ? null : Length(p.Input(1)));
                return removed is long k ? r - (int)k : null;
            }
            case "ArgMax" or "ArgMin":
                return Rank(p.Input(0)) is int ar ? (p.GetInt("keepdims", 1) != 0 ? ar : ar - 1) : null;
            case "ReduceMean" or "ReduceSum" or "ReduceMax" or "ReduceMin" or "ReduceProd" or "ReduceL1" or "ReduceL2"
                or "ReduceLogSum" or "ReduceLogSumExp" or "ReduceSumSquare":
            {
                if (Rank(p.Input(0)) is not int r) return null;
                if (p.GetInt("keepdims", 1) != 0) return r;
                long? axes = p.GetInts("axes")?.Count ?? (p.Input(1) is null ? 0 : Length(p.Input(1)));
                return axes switch { null => null, 0 => 0, long k => r - (int)k };
            }
            default:
                if (Broadcasting.Contains(p.OpType))
                {
                    int max = 0;
                    foreach (var input in p.Inputs)
                    {
                        if (input is null) continue;
                        if (Rank(input) is int r) max = Math.Max(max, r); else return null;
                    }
                    return max;
                }
                return SameRankAsFirstInput.Contains(p.OpType) ? Rank(p.Input(0)) : null;
        }
    }

    private static readonly HashSet<string> Broadcasting =
    [
        "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "Where", "Equal", "Less", "Greater",
        "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "PRelu", "BitShift",
    ];

    private static readonly HashSet<string> SameRankAsFirstInput =
    [
        "Abs", "Neg", "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
        "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan",
        "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Erf", "Sign", "Softplus", "Softsign", "Mish", "Gelu",
        "ThresholdedRelu", "Shrink", "Not", "IsNaN", "IsInf", "Softmax", "LogSoftmax", "Hardmax", "Cast", "CastLike",
        "Identity", "Dropout", "Clip", "BatchNormalization", "InstanceNormalization", "LayerNormalization",
        "GroupNormalization", "LpNormalization", "MeanVarianceNormalization", "LRN", "Conv", "ConvTranspose",
        "AveragePool", "MaxPool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "Pad", "Resize",
        "Upsample", "Slice", "Concat", "Split", "Tile", "CumSum", "DepthToSpace", "SpaceToDepth", "TopK", "Trilu",
        "ScatterElements", "ScatterND", "Scatter", "GatherElements", "ReverseSequence", "QuantizeLinear",
        "DequantizeLinear",
    ];

    private static readonly HashSet<string> SameTypeAsFirstInput =
    [
        "Abs", "Neg", "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
        "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan",
        "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Erf", "Sign", "Softplus", "Softsign", "Mish", "Gelu",
        "ThresholdedRelu", "Shrink", "Softmax", "LogSoftmax", "Hardmax", "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max",
        "Min", "Sum", "Mean", "MatMul", "Gemm", "Conv", "ConvTranspose", "AveragePool", "MaxPool", "LpPool",
        "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "BatchNormalization", "InstanceNormalization",
        "LayerNormalization", "GroupNormalization", "LpNormalization", "MeanVarianceNormalization", "LRN", "Dropout",
        "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Slice", "Concat", "Split", "Gather",
        "GatherElements", "GatherND", "Expand", "Tile", "Pad", "Resize", "Upsample", "Clip", "DepthToSpace",
        "SpaceToDepth", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "CumSum", "ScatterElements", "ScatterND", "Scatter",
        "TopK", "Trilu", "ReverseSequence", "Compress", "Einsum", "Det",
    ];
}
