using OnnxQuant.Ir;

namespace OnnxQuant.Runtime;

/// <summary>
/// Receives one output of a run straight from ONNX Runtime's buffer (<see cref="ModelRunner.Run(IReadOnlyDictionary{string, Tensor}, IReadOnlyList{string}, OutputVisitor)"/>):
/// the bytes are valid only during the call, so nothing is copied and nothing outlives the run.
/// </summary>
public delegate void OutputVisitor(string name, DataType elementType, ReadOnlySpan<long> dims, ReadOnlySpan<byte> data);
