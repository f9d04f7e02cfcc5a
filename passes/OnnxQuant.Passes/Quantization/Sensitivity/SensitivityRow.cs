namespace OnnxQuant.Passes.Quantization.Sensitivity;

/// <summary>
/// One node group of a <see cref="SensitivityReport"/>: output SQNR (dB, vs float) with only this group quantized,
/// and with everything but this group quantized (what leaving it in float buys).
/// </summary>
public sealed record SensitivityRow(string Group, int Nodes, double OnlyThisSqnrDb, double AllButThisSqnrDb, IReadOnlyList<string> NodeNames)
{
    /// <summary>dB gained over the fully quantized model by leaving this group in float.</summary>
    public double GainIfFloatDb(double allSqnrDb) => AllButThisSqnrDb - allSqnrDb;
}
