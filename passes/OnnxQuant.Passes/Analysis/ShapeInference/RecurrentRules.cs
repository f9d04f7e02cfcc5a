using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// LSTM, GRU, RNN: Y is [seq, directions, batch, hidden] (layout 0) or [batch, seq, directions, hidden] (layout 1);
/// Y_h and Y_c are [directions, batch, hidden] or [batch, directions, hidden].
/// </summary>
internal static class RecurrentRules
{
    public static void Register(RuleRegistration add) => add("", Recurrent, "LSTM", "GRU", "RNN");

    private static void Recurrent(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        bool batchFirst = c.Int("layout", 0) != 0;
        Dim seq = Dim.Unknown, batch = Dim.Unknown;
        if (c.ShapeOf(0) is { Rank: 3 } x)
        {
            seq = DimMath.Clean(batchFirst ? x[1] : x[0]);
            batch = DimMath.Clean(batchFirst ? x[0] : x[1]);
        }
        var directions = Dim.Known(c.String("direction", "forward") == "bidirectional" ? 2 : 1);
        Dim hidden = c.Node.GetAttribute("hidden_size") is not null ? Dim.Known(c.Int("hidden_size", 0))
            : c.ShapeOf(2) is { Rank: 3 } r ? DimMath.Clean(r[2]) : Dim.Unknown;
        c.Set(0, type, batchFirst ? [batch, seq, directions, hidden] : [seq, directions, batch, hidden]);
        Dim[] state = batchFirst ? [batch, directions, hidden] : [directions, batch, hidden];
        for (int i = 1; i < c.OutputCount; i++) c.Set(i, type, state);
    }
}
