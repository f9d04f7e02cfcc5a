using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.DataSources;

/// <summary>A model input that calibration data must feed: its name, element type and dimensions (some free).</summary>
public sealed record ModelInput(string Name, DataType ElementType, IReadOnlyList<Dim> Dims, Value Value)
{
    public int Rank => Dims.Count;

    /// <summary>The inputs of the main graph, in order; inputs that are initializers (old-style models) are skipped.</summary>
    public static IReadOnlyList<ModelInput> FromModel(Model model)
    {
        var list = new List<ModelInput>();
        foreach (var v in model.Graph.Inputs)
        {
            if (v.IsConstant) continue;
            if (v.Type is not TensorType { Shape: { } shape } tt)
                throw new OnnxQuantException($"Model input '{v.Name}' is {(v.Type is null ? "of unknown type" : $"a {v.Type}")}; calibration feeds tensors of known rank only.");
            list.Add(new ModelInput(v.Name!, tt.ElementType, shape.Dims, v));
        }
        return list;
    }

    public string DescribeShape() => "[" + string.Join(",", Dims) + "]";
}
