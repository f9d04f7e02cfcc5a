namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>Infers the output types of one op from what <paramref name="context"/> knows of its inputs.</summary>
internal delegate void ShapeRule(NodeShapeContext context);
