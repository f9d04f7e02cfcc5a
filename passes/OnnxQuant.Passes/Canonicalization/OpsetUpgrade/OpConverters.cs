namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>The converters the upgrade knows, looked up by op and breaking version.</summary>
internal static class OpConverters
{
    private static readonly Dictionary<(string, int), OpConverter> ByChange = Build();

    public static OpConverter? Find(string opType, int version) => ByChange.GetValueOrDefault((opType, version));

    /// <summary>Every (op, version) some converter handles.</summary>
    public static IEnumerable<(string OpType, int Version)> Handled => ByChange.Keys;

    private static Dictionary<(string, int), OpConverter> Build()
    {
        OpConverter[] all =
        [
            new BatchNormalizationConverter(), new ClipConverter(), new ConvTransposeConverter(), new DftConverter(),
            new DropoutConverter(), new GridSampleConverter(), new GroupNormalizationConverter(), new PadConverter(),
            new ResizeConverter(), new RoiAlignConverter(), new ScatterConverter(), new SliceConverter(),
            new SplitConverter(), new TopKConverter(), new UpsampleConverter(),
            new SoftmaxFamilyConverter("Softmax"), new SoftmaxFamilyConverter("LogSoftmax"),
            new SoftmaxFamilyConverter("Hardmax"),
            new AxesToInputConverter("Squeeze", 13), new AxesToInputConverter("Unsqueeze", 13),
            new AxesToInputConverter("ReduceSum", 13),
            .. new[] { "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
                       "ReduceMin", "ReduceProd", "ReduceSumSquare" }
                .Select(op => new AxesToInputConverter(op, 18)),
        ];
        var map = new Dictionary<(string, int), OpConverter>();
        foreach (var c in all)
            foreach (int v in c.Versions)
            {
                if (OpsetHistory.Find(c.OpType) is not { } row || !row.IsBreaking(v))
                    throw new InvalidOperationException($"Internal error: converter for {c.OpType}@{v} handles no breaking change.");
                map.Add((c.OpType, v), c);
            }
        return map;
    }
}
