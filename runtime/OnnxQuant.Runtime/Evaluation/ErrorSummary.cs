namespace OnnxQuant.Runtime.Evaluation;

/// <summary>
/// The error of one tensor of the quantized model against the float model, over all samples (<see cref="ErrorStatistics"/>).
/// <see cref="SqnrDb"/> is null when it is not finite: <see cref="Identical"/> tells the +∞ case (no error at all).
/// </summary>
public sealed record ErrorSummary(string Name, double? SqnrDb, double Cosine, double MaxAbsError, bool Identical, long Elements)
{
    public static ErrorSummary From(string name, ErrorStatistics s) => new(
        name,
        double.IsFinite(s.SqnrDb) ? s.SqnrDb : null,
        s.Cosine,
        s.MaxAbsError,
        s.ErrorEnergy == 0 && !double.IsNaN(s.MaxAbsError),
        s.Count);

    /// <summary>Orders worst first: lowest SQNR, with a non-finite SQNR ranked by what it means (−∞ first, +∞ last).</summary>
    public static double WorstFirst(ErrorSummary e) => e.SqnrDb ?? (e.Identical ? double.PositiveInfinity : double.NegativeInfinity);
}
