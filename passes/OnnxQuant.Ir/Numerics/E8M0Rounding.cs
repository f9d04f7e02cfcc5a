namespace OnnxQuant.Ir.Numerics;

/// <summary>
/// Rounding of a float to <c>FLOAT8E8M0</c> (a power of two), as ONNX Cast's <c>round_mode</c> attribute (opset 24+)
/// names it. E8M0 values are positive, so "away from zero" is "towards +∞".
/// </summary>
public enum E8M0Rounding
{
    /// <summary><c>"up"</c> (ONNX's default, and CUDA's behaviour): the smallest power of two ≥ x.</summary>
    Up,

    /// <summary><c>"down"</c>: the largest power of two ≤ x (the OCP MX spec's shared-scale rule).</summary>
    Down,

    /// <summary><c>"nearest"</c>: the nearer of the two powers of two around x; the midpoint 1.5·2^k goes up.</summary>
    Nearest,
}
