using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// Works out the contents of small integer values on demand (constants, and what shape computations derive from
/// them and from known shapes), memoized for one inference sweep. Reads the types currently on the values, so a
/// sweep in topological order sees every producer's inferred shape.
/// </summary>
internal sealed class SymbolicEvaluator
{
    /// <summary>Shape computations are short chains; a long chain is cut rather than risking deep recursion.</summary>
    private const int MaxDepth = 48;

    private readonly Dictionary<Value, SymbolicTensor?> _cache = new(ReferenceEqualityComparer.Instance);
    private int _depth;

    public SymbolicEvaluator(int opset) => Opset = opset;

    /// <summary>The default-domain opset of the model (attributes vs inputs for Slice, Squeeze, …).</summary>
    public int Opset { get; }

    public SymbolicTensor? Evaluate(Value? value)
    {
        if (value is null) return null;
        if (_cache.TryGetValue(value, out var cached)) return cached;
        SymbolicTensor? result = null;
        if (ConstantNode.ConstantOf(value) is { } t) result = SymbolicTensor.FromTensor(t);
        else if (value.Producer is { } node && _depth < MaxDepth)
        {
            _depth++;
            try { result = DataPropagation.Evaluate(node, value.OutputIndex, this); }
            finally { _depth--; }
        }
        // Results cut short by the depth limit are not cached, so a later, shallower request can still succeed.
        if (result is not null || _depth == 0) _cache[value] = result;
        return result;
    }

    /// <summary>Forgets what was derived from <paramref name="value"/>'s old type (after it was refined).</summary>
    public void Forget(Value value) => _cache.Remove(value);
}
