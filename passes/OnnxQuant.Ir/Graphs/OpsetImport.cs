namespace OnnxQuant.Ir;

/// <summary>One operator set the model uses: a domain ("" = ai.onnx) and its version.</summary>
public sealed record OpsetImport(string Domain, long Version);
