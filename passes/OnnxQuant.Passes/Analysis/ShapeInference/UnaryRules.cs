using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>Ops whose output has the input's shape: activations, math functions, Softmax, Cast (new type), Dropout …</summary>
internal static class UnaryRules
{
    public static void Register(RuleRegistration add)
    {
        add("", Same, "Relu", "Sigmoid", "Tanh", "Erf", "Sqrt", "Exp", "Log", "Neg", "Abs", "Reciprocal", "Floor", "Ceil",
            "Round", "Sign", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
            "Softplus", "Softsign", "Elu", "Selu", "Celu", "LeakyRelu", "ThresholdedRelu", "HardSigmoid", "HardSwish",
            "Mish", "Gelu", "Swish", "Softmax", "LogSoftmax", "Hardmax", "Clip", "Shrink", "BitwiseNot", "Not",
            "LpNormalization", "MeanVarianceNormalization", "LRN", "CumSum", "Trilu", "ReverseSequence", "ImageScaler", "RotaryEmbedding");
        add("com.microsoft", Same, "Gelu", "FastGelu", "QuickGelu", "BiasSoftmax", "RotaryEmbedding");
        add("", Identity, "Identity");
        add("", Dropout, "Dropout");
        add("", Cast, "Cast");
        add("", CastLike, "CastLike");
        add("", ToBool, "IsNaN", "IsInf");
        add("", LikeWithDtype, "Bernoulli", "RandomNormalLike", "RandomUniformLike", "EyeLike");
    }

    private static void Same(NodeShapeContext c) => c.SameAsInput(0);

    private static void ToBool(NodeShapeContext c) => c.SameAsInput(0, 0, DataType.Bool);

    /// <summary>Identity also passes sequences and optionals through.</summary>
    private static void Identity(NodeShapeContext c)
    {
        if (c.Input(0) is { Type: { } t and not TensorType } && c.Input(0)!.Const is null) c.Set(0, t);
        else c.SameAsInput(0);
    }

    private static void Dropout(NodeShapeContext c)
    {
        c.SameAsInput(0);
        if (c.OutputCount > 1) c.SameAsInput(1, 0, c.Opset >= 10 ? DataType.Bool : null);
    }

    private static void Cast(NodeShapeContext c)
    {
        var to = (DataType)c.Int("to", 0);
        if (c.Opset < 6 && c.Node.GetAttribute("to")?.Value is byte[])
            to = Enum.TryParse<DataType>(c.String("to", ""), ignoreCase: true, out var parsed) ? parsed : DataType.Undefined;
        c.SameAsInput(0, 0, to);
    }

    private static void CastLike(NodeShapeContext c) => c.SameAsInput(0, 0, c.ElementType(1));

    private static void LikeWithDtype(NodeShapeContext c)
    {
        long dtype = c.Int("dtype", 0);
        c.SameAsInput(0, 0, dtype != 0 ? (DataType)dtype : c.ElementType(0));
    }
}
