namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// Every ai.onnx operator with the opset versions at which its schema changed (its <c>since_version</c>s), from opset 1
/// to <see cref="NewestKnownOpset"/>, and which of those changes alter a node's signature or semantics so that the node
/// has to be rewritten. Sources: onnx/defs/operator_sets.h (the schema versions), docs/Changelog.md (what changed),
/// and the adapters of onnx/version_converter (which changes are "compatible"), cross-checked against the kernel version
/// ranges ONNX Runtime registers (docs/OperatorKernels.md). A change not marked as breaking only
/// widened the accepted types, allowed negative axes, or added an attribute or optional input whose default keeps the
/// old behaviour.
/// </summary>
/// <remarks>
/// Why a table and not "convert what we know": an op whose schema changed in a way we do not rewrite must stop the
/// upgrade with an error naming the node, never pass through with a silently different meaning.
/// </remarks>
public static class OpsetHistory
{
    /// <summary>The newest ai.onnx opset whose changes this table lists; targets above it are refused.</summary>
    public const int NewestKnownOpset = 23;

    /// <summary>The oldest opset we upgrade from (ONNX Runtime runs nothing older).</summary>
    public const int OldestSupportedOpset = 7;

    // ThresholdedRelu-1 is the pre-10 experimental op, which ONNX Runtime runs with the same meaning as version 10.
    // Other experimental pre-10 ops (ImageScaler, Crop, ...) are deliberately absent: they are no ai.onnx operators at
    // the targets, so a model using them is refused by name.
    // Op -> schema versions. A version followed by '*' is a breaking change (a converter must rewrite the node); '†'
    // marks the version from which the op is deprecated (a converter replaces it by its successor).
    private static readonly (string Op, string Versions)[] Rows =
    [
        ("Abs", "1 6 13"), ("Acos", "7 22"), ("Acosh", "9 22"), ("Add", "1 6 7 13 14"), ("AffineGrid", "20"),
        ("And", "1 7"), ("ArgMax", "1 11 12 13"), ("ArgMin", "1 11 12 13"), ("Asin", "7 22"), ("Asinh", "9 22"),
        ("Atan", "7 22"), ("Atanh", "9 22"), ("Attention", "23"), ("AveragePool", "1 7 10 11 19 22"),
        ("BatchNormalization", "1 6 7 9* 14* 15"), ("Bernoulli", "15 22"), ("BitShift", "11"),
        ("BitwiseAnd", "18"), ("BitwiseNot", "18"), ("BitwiseOr", "18"), ("BitwiseXor", "18"),
        ("BlackmanWindow", "17"), ("Cast", "1 6 9 13 19 21 23"), ("CastLike", "15 19 21 23"), ("Ceil", "1 6 13"),
        ("Celu", "12"), ("CenterCropPad", "18"), ("Clip", "1 6 11* 12 13"), ("Col2Im", "18"), ("Compress", "9 11"),
        ("Concat", "1 4 11 13"), ("ConcatFromSequence", "11"), ("Constant", "1 9 11 12 13 19 21 23"),
        ("ConstantOfShape", "9 20 21 23"), ("Conv", "1 11 22"), ("ConvInteger", "10"),
        ("ConvTranspose", "1 11* 22"), ("Cos", "7 22"), ("Cosh", "9 22"), ("CumSum", "11 14"), ("DFT", "17 20*"),
        ("DeformConv", "19 22"), ("DepthToSpace", "1 11 13"), ("DequantizeLinear", "10 13 19 21 23"),
        ("Det", "11 22"), ("Div", "1 6 7 13 14"), ("Dropout", "1 6 7 10* 12* 13 22"),
        ("DynamicQuantizeLinear", "11"), ("Einsum", "12"), ("Elu", "1 6 22"), ("Equal", "1 7 11 13 19"),
        ("Erf", "9 13"), ("Exp", "1 6 13"), ("Expand", "8 13"), ("EyeLike", "9 22"), ("Flatten", "1 9 11 13 21 23"),
        ("Floor", "1 6 13"), ("GRU", "1 3 7 14 22"), ("Gather", "1 11 13"), ("GatherElements", "11 13"),
        ("GatherND", "11 12 13"), ("Gelu", "20"), ("Gemm", "1 6 7 9 11 13"), ("GlobalAveragePool", "1 22"),
        ("GlobalLpPool", "1 2 22"), ("GlobalMaxPool", "1 22"), ("Greater", "1 7 9 13"),
        ("GreaterOrEqual", "12 16"), ("GridSample", "16 20* 22"), ("GroupNormalization", "18 21*"),
        ("HammingWindow", "17"), ("HannWindow", "17"), ("HardSigmoid", "1 6 22"), ("HardSwish", "14 22"),
        ("Hardmax", "1 11 13*"), ("Identity", "1 13 14 16 19 21 23"), ("If", "1 11 13 16 19 21 23"),
        ("ImageDecoder", "20"), ("InstanceNormalization", "1 6 22"), ("IsInf", "10 20"), ("IsNaN", "9 13 20"),
        ("LRN", "1 13"), ("LSTM", "1 7 14 22"), ("LayerNormalization", "17"), ("LeakyRelu", "1 6 16"),
        ("Less", "1 7 9 13"), ("LessOrEqual", "12 16"), ("Log", "1 6 13"), ("LogSoftmax", "1 11 13*"),
        ("Loop", "1 11 13 16 19 21 23"), ("LpNormalization", "1 22"), ("LpPool", "1 2 11 18 22"),
        ("MatMul", "1 9 13"), ("MatMulInteger", "10"), ("Max", "1 6 8 12 13"), ("MaxPool", "1 8 10 11 12 22"),
        ("MaxRoiPool", "1 22"), ("MaxUnpool", "9 11 22"), ("Mean", "1 6 8 13"),
        ("MeanVarianceNormalization", "9 13"), ("MelWeightMatrix", "17"), ("Min", "1 6 8 12 13"),
        ("Mish", "18 22"), ("Mod", "10 13"), ("Mul", "1 6 7 13 14"), ("Multinomial", "7 22"), ("Neg", "1 6 13"),
        ("NegativeLogLikelihoodLoss", "12 13 22"), ("NonMaxSuppression", "10 11"), ("NonZero", "9 13"),
        ("Not", "1"), ("OneHot", "9 11"), ("Optional", "15"), ("OptionalGetElement", "15 18"),
        ("OptionalHasElement", "15 18"), ("Or", "1 7"), ("PRelu", "1 6 7 9 16"),
        ("Pad", "1 2 11* 13 18 19 21 23"), ("Pow", "1 7 12 13 15"), ("QLinearConv", "10"),
        ("QLinearMatMul", "10 21"), ("QuantizeLinear", "10 13 19 21 23"), ("RMSNormalization", "23"),
        ("RNN", "1 7 14 22"), ("RandomNormal", "1 22"), ("RandomNormalLike", "1 22"), ("RandomUniform", "1 22"),
        ("RandomUniformLike", "1 22"), ("Range", "11"), ("Reciprocal", "1 6 13"), ("ReduceL1", "1 11 13 18*"),
        ("ReduceL2", "1 11 13 18*"), ("ReduceLogSum", "1 11 13 18*"), ("ReduceLogSumExp", "1 11 13 18*"),
        ("ReduceMax", "1 11 12 13 18* 20"), ("ReduceMean", "1 11 13 18*"), ("ReduceMin", "1 11 12 13 18* 20"),
        ("ReduceProd", "1 11 13 18*"), ("ReduceSum", "1 11 13*"), ("ReduceSumSquare", "1 11 13 18*"),
        ("RegexFullMatch", "20"), ("Relu", "1 6 13 14"), ("Reshape", "1 5 13 14 19 21 23"),
        ("Resize", "10 11* 13* 18 19"), ("ReverseSequence", "10"), ("RoiAlign", "10 16* 22"),
        ("RotaryEmbedding", "23"), ("Round", "11 22"), ("STFT", "17"), ("Scan", "8 9* 11 16 19 21 23"),
        ("Scatter", "9 11†"), ("ScatterElements", "11 13 16 18"), ("ScatterND", "11 13 16 18"),
        ("Selu", "1 6 22"), ("SequenceAt", "11"), ("SequenceConstruct", "11"), ("SequenceEmpty", "11"),
        ("SequenceErase", "11"), ("SequenceInsert", "11"), ("SequenceLength", "11"), ("SequenceMap", "17"),
        ("Shape", "1 13 15 19 21 23"), ("Shrink", "9"), ("Sigmoid", "1 6 13"), ("Sign", "9 13"), ("Sin", "7 22"),
        ("Sinh", "9 22"), ("Size", "1 13 19 21 23"), ("Slice", "1 10* 11 13"), ("Softmax", "1 11 13*"),
        ("SoftmaxCrossEntropyLoss", "12 13"), ("Softplus", "1 22"), ("Softsign", "1 22"),
        ("SpaceToDepth", "1 13"), ("Split", "1 2 11 13* 18*"), ("SplitToSequence", "11"), ("Sqrt", "1 6 13"),
        ("Squeeze", "1 11 13* 21 23"), ("StringConcat", "20"), ("StringNormalizer", "10"), ("StringSplit", "20"),
        ("Sub", "1 6 7 13 14"), ("Sum", "1 6 8 13"), ("Tan", "7 22"), ("Tanh", "1 6 13"),
        ("TfIdfVectorizer", "9"), ("ThresholdedRelu", "1 10 22"), ("Tile", "1 6 13"), ("TopK", "1 10* 11"),
        ("Transpose", "1 13 21 23"), ("Trilu", "14"), ("Unique", "11"), ("Unsqueeze", "1 11 13* 21 23"),
        ("Upsample", "1 7 9* 10†"), ("Where", "9 16"), ("Xor", "1 7"),
    ];

    /// <summary>What each breaking change is, for converters' documentation and error messages.</summary>
    private static readonly Dictionary<(string, int), string> BreakingChanges = new()
    {
        [("BatchNormalization", 9)] = "the 'spatial' attribute was removed",
        [("BatchNormalization", 14)] = "the training outputs saved_mean/saved_var were removed (training_mode attribute)",
        [("Clip", 11)] = "min/max attributes became inputs",
        [("ConvTranspose", 11)] = "auto_pad SAME_UPPER/SAME_LOWER padding and output_shape semantics were redefined",
        [("DFT", 20)] = "the 'axis' attribute became an input (default -2)",
        [("Dropout", 10)] = "the mask output became tensor(bool)",
        [("Dropout", 12)] = "the 'ratio' attribute became an input (plus a training_mode input)",
        [("GridSample", 20)] = "modes 'bilinear'/'bicubic' were renamed 'linear'/'cubic'",
        [("GroupNormalization", 21)] = "scale and bias are per channel, not per group (and stash_type was added)",
        [("Hardmax", 13)] = "axis now selects one axis (default -1) instead of flattening to 2-D at axis (default 1)",
        [("LogSoftmax", 13)] = "axis now selects one axis (default -1) instead of flattening to 2-D at axis (default 1)",
        [("Pad", 11)] = "pads/value attributes became inputs",
        [("ReduceL1", 18)] = "the 'axes' attribute became an input",
        [("ReduceL2", 18)] = "the 'axes' attribute became an input",
        [("ReduceLogSum", 18)] = "the 'axes' attribute became an input",
        [("ReduceLogSumExp", 18)] = "the 'axes' attribute became an input",
        [("ReduceMax", 18)] = "the 'axes' attribute became an input",
        [("ReduceMean", 18)] = "the 'axes' attribute became an input",
        [("ReduceMin", 18)] = "the 'axes' attribute became an input",
        [("ReduceProd", 18)] = "the 'axes' attribute became an input",
        [("ReduceSum", 13)] = "the 'axes' attribute became an input",
        [("ReduceSumSquare", 18)] = "the 'axes' attribute became an input",
        [("Resize", 11)] = "an roi input was added and coordinate_transformation_mode/nearest_mode replaced the fixed " +
                           "asymmetric mapping",
        [("Resize", 13)] = "coordinate_transformation_mode 'tf_half_pixel_for_nn' was removed; scales/roi became optional",
        [("RoiAlign", 16)] = "coordinate_transformation_mode was added with default 'half_pixel' (the old behaviour " +
                             "is 'output_half_pixel')",
        [("Scan", 9)] = "the batch dimension and sequence_lens input were removed",
        [("Scatter", 11)] = "deprecated in favour of ScatterElements",
        [("Slice", 10)] = "starts/ends/axes attributes became inputs (plus steps)",
        [("Softmax", 13)] = "axis now selects one axis (default -1) instead of flattening to 2-D at axis (default 1)",
        [("Split", 13)] = "the 'split' attribute became an input",
        [("Split", 18)] = "splitting into equal parts needs the num_outputs attribute",
        [("Squeeze", 13)] = "the 'axes' attribute became an input",
        [("TopK", 10)] = "the 'k' attribute became an input",
        [("Unsqueeze", 13)] = "the 'axes' attribute became an input",
        [("Upsample", 9)] = "the 'scales' attribute became an input",
        [("Upsample", 10)] = "deprecated in favour of Resize",
    };

    private static readonly Dictionary<string, OpVersions> Table = BuildTable();

    /// <summary>Schema versions of <paramref name="opType"/>, or null for an op this table does not know.</summary>
    public static OpVersions? Find(string opType) => Table.GetValueOrDefault(opType);

    /// <summary>Every op in the table, in name order.</summary>
    public static IEnumerable<OpVersions> All => Table.Values.OrderBy(o => o.OpType, StringComparer.Ordinal);

    /// <summary>Why a breaking change matters (empty for compatible changes).</summary>
    public static string Describe(string opType, int version) =>
        BreakingChanges.GetValueOrDefault((opType, version), "");

    /// <summary>
    /// The minimum IR version a model importing ai.onnx at <paramref name="opset"/> must declare (ONNX's release table:
    /// opset 9 came with IR 4, 10 with 5, 11 with 6, 12-14 with 7, 15-18 with 8, 19-20 with 9, 21-22 with 10, 23 with 11).
    /// </summary>
    public static long MinimumIrVersion(long opset) => opset switch
    {
        <= 8 => 3,
        9 => 4,
        10 => 5,
        11 => 6,
        <= 14 => 7,
        <= 18 => 8,
        <= 20 => 9,
        <= 22 => 10,
        _ => 11,
    };

    private static Dictionary<string, OpVersions> BuildTable()
    {
        var table = new Dictionary<string, OpVersions>(StringComparer.Ordinal);
        foreach (var (op, text) in Rows)
        {
            var versions = new List<int>();
            var breaking = new HashSet<int>();
            int? deprecatedAt = null;
            foreach (string token in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                string digits = token.TrimEnd('*', '†');
                int v = int.Parse(digits, System.Globalization.CultureInfo.InvariantCulture);
                versions.Add(v);
                if (token.EndsWith('*')) breaking.Add(v);
                if (token.EndsWith('†')) { breaking.Add(v); deprecatedAt = v; }
            }
            foreach (int v in breaking)
                if (!BreakingChanges.ContainsKey((op, v)))
                    throw new InvalidOperationException($"Internal error: {op}@{v} is breaking but has no description.");
            table.Add(op, new OpVersions(op, versions, breaking, deprecatedAt));
        }
        foreach (var (op, v) in BreakingChanges.Keys)
            if (!table.TryGetValue(op, out var row) || !row.IsBreaking(v))
                throw new InvalidOperationException($"Internal error: {op}@{v} is described but not marked breaking.");
        return table;
    }
}
