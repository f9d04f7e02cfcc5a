namespace OnnxQuant.Passes.Rewriting;

/// <summary>
/// Builders for tree patterns (<c>using static OnnxQuant.Passes.Rewriting.Pattern;</c> reads well):
/// <code>
/// var x = Any("x");
/// // x · Clip(x + 3, 0, 6) / 6
/// Op("Div", Op("Mul", x, Op("Clip", Op("Add", x, Scalar(3)), Scalar(0), Scalar(6))), Scalar(6))
/// </code>
/// </summary>
public static class Pattern
{
    /// <summary>An output of a node <paramref name="opType"/> (default domain) whose inputs match <paramref name="inputs"/>.</summary>
    public static OpPattern Op(string opType, params ValuePattern[] inputs) => new(opType, "", inputs);

    /// <summary>An output of a node of another domain (<c>com.microsoft</c>).</summary>
    public static OpPattern DomainOp(string domain, string opType, params ValuePattern[] inputs) => new(opType, domain, inputs);

    /// <summary>Any present value; a name captures it and makes repeated uses of the name refer to one value.</summary>
    public static AnyValuePattern Any(string? name = null) => new(name);

    /// <summary>A constant (initializer or Constant node output).</summary>
    public static ConstantPattern Constant(string? name = null) => new(name);

    /// <summary>
    /// A one-element numeric constant equal to <paramref name="value"/> within a relative (0 exactly)
    /// <paramref name="tolerance"/> (constants are often stored in float32 or float16).
    /// </summary>
    public static ConstantPattern Scalar(double value, double tolerance = 1e-6, string? name = null) =>
        new ConstantPattern(name).Equal(value, tolerance);

    /// <summary>A value matching one of <paramref name="alternatives"/>, tried in order (see <see cref="OneOfPattern"/>).</summary>
    public static OneOfPattern OneOf(params ValuePattern[] alternatives) => new(alternatives);

    /// <summary>An omitted optional input.</summary>
    public static AbsentPattern Absent() => new(null);

    /// <summary>An input that is either omitted or matches <paramref name="pattern"/>.</summary>
    public static AbsentPattern Optional(ValuePattern pattern) => new(pattern);
}
