using Microsoft.ML.OnnxRuntime;
using OnnxQuant.Ir;

namespace OnnxQuant.Runtime;

/// <summary>
/// The outputs of one run (<see cref="ModelRunner.RunAndKeep"/>) left in ONNX Runtime's buffers until disposed, so
/// that they can be visited later, e.g. on another thread while the next run goes on. Not copied; dispose it before
/// the runner.
/// </summary>
public sealed class RunOutputs : IDisposable
{
    private readonly IDisposableReadOnlyCollection<OrtValue> _values;
    private readonly IReadOnlyList<string> _names;

    internal RunOutputs(IDisposableReadOnlyCollection<OrtValue> values, IReadOnlyList<string> names)
    {
        _values = values;
        _names = names;
    }

    internal IReadOnlyList<OrtValue> Values => _values;

    /// <summary>
    /// Hands each output to <paramref name="visit"/>. With <paramref name="parallelism"/> above 1, outputs are visited
    /// on that many threads at once: the visitor must then be safe to call concurrently for different outputs.
    /// </summary>
    public void Visit(OutputVisitor visit, int parallelism = 1)
    {
        void One(int i)
        {
            var value = _values[i];
            string name = _names[i];
            if (!value.IsTensor) throw new NotSupportedException($"Output '{name}' is not a tensor (sequences and maps cannot be visited).");
            var info = value.GetTensorTypeAndShape();
            var type = (DataType)(int)info.ElementDataType;
            if (type == DataType.String) throw new NotSupportedException($"Output '{name}' is a string tensor.");
            visit(name, type, info.Shape, value.GetTensorMutableRawData());
        }
        if (parallelism <= 1 || _values.Count < 2)
            for (int i = 0; i < _values.Count; i++) One(i);
        else
            Parallel.For(0, _values.Count, new ParallelOptions { MaxDegreeOfParallelism = parallelism }, One);
    }

    public void Dispose() => _values.Dispose();
}
