using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.Calibration.Blocks;

/// <summary>
/// One block of a <see cref="BlockPartition"/>: consecutive nodes of the main graph, the values it reads from
/// before it (<see cref="Inputs"/>: graph inputs and earlier blocks' outputs, the carried activations) and the values
/// it produces that are read after it (<see cref="Outputs"/>). Constants it reads are its weights.
/// </summary>
public sealed record GraphBlock(int Index, IReadOnlyList<Node> Nodes, IReadOnlyList<Value> Inputs, IReadOnlyList<Value> Outputs, long WeightBytes);
