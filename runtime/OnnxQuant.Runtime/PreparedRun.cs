using Microsoft.ML.OnnxRuntime;
using OnnxQuant.Ir;

namespace OnnxQuant.Runtime;

/// <summary>
/// Inputs already copied into ONNX Runtime values for one session (<see cref="ModelRunner.Prepare"/>), so that each
/// <see cref="Invoke"/> costs the model's run and nothing else of ours: no tensor copies in, none out.
/// </summary>
public sealed class PreparedRun : IDisposable
{
    private readonly InferenceSession _session;
    private readonly IReadOnlyList<string> _inputNames;
    private readonly IReadOnlyList<OrtValue> _inputs;
    private readonly IReadOnlyList<string> _outputNames;
    private readonly RunOptions _runOptions = new();

    internal PreparedRun(InferenceSession session, IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputs)
    {
        _session = session;
        _inputNames = inputNames;
        _inputs = inputs;
        _outputNames = session.OutputNames;
    }

    /// <summary>Runs the model once on the prepared inputs; the outputs are computed in full, then released.</summary>
    public void Invoke()
    {
        try
        {
            using var results = _session.Run(_runOptions, _inputNames, _inputs, _outputNames);
        }
        catch (OnnxRuntimeException e)
        {
            throw new OnnxQuantException($"ONNX Runtime failed to run the model: {e.Message}", e);
        }
    }

    public void Dispose()
    {
        foreach (var v in _inputs) v.Dispose();
        _runOptions.Dispose();
    }
}
