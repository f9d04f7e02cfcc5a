namespace OnnxQuant.Passes.Quantization.Sensitivity;

/// <summary>What <see cref="SensitivityAnalysis"/> measured: the fully quantized model's SQNR and one row per node group, most sensitive first.</summary>
public sealed record SensitivityReport(string Model, string Recipe, int Samples, int Candidates, double AllQuantizedSqnrDb, IReadOnlyList<SensitivityRow> Rows);
