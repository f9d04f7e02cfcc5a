namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>The shape rules by (domain, op type); each op family registers its own in its file.</summary>
internal static class ShapeRules
{
    private static readonly Dictionary<(string Domain, string OpType), ShapeRule> Table = Build();

    public static ShapeRule? Find(string domain, string opType) =>
        Table.GetValueOrDefault((domain is "ai.onnx" ? "" : domain, opType));

    /// <summary>Op types with a rule, for documentation and tests.</summary>
    public static IEnumerable<(string Domain, string OpType)> Supported => Table.Keys;

    private static Dictionary<(string, string), ShapeRule> Build()
    {
        var table = new Dictionary<(string, string), ShapeRule>();
        void Add(string domain, ShapeRule rule, params string[] ops)
        {
            foreach (string op in ops) table[(domain, op)] = rule;
        }
        ElementwiseRules.Register(Add);
        UnaryRules.Register(Add);
        MatMulRules.Register(Add);
        ConvRules.Register(Add);
        PoolingRules.Register(Add);
        ReshapeRules.Register(Add);
        IndexingRules.Register(Add);
        GeneratorRules.Register(Add);
        ReductionRules.Register(Add);
        NormalizationRules.Register(Add);
        ResizeRules.Register(Add);
        QuantizationRules.Register(Add);
        RecurrentRules.Register(Add);
        ControlFlowRules.Register(Add);
        SequenceRules.Register(Add);
        return table;
    }
}
