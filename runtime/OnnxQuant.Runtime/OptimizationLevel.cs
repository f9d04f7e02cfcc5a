namespace OnnxQuant.Runtime;

/// <summary>ONNX Runtime's graph optimization levels. Numeric checks use <see cref="None"/>, so that what is compared
/// is our graph, not ORT's rewrite of it.</summary>
public enum OptimizationLevel
{
    None,
    Basic,
    Extended,
    All,
}
