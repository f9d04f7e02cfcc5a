using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.DataSources;

/// <summary>
/// <c>--shape NAME=D0,D1,…</c>: the shape of one sample of an input as fed to the model (batch size 1), fixing its
/// free dimensions. Used by every command that runs a model.
/// </summary>
public static class ShapeOverrides
{
    /// <summary>Parses the specs (one grammar and one set of messages for every command: the benchmark's parser).</summary>
    public static Dictionary<string, long[]> Parse(IEnumerable<string> specs) => OnnxQuant.Runtime.Benchmarking.InputShapes.Parse(specs);

    /// <summary>Checks that every overridden input exists and has the model's rank and fixed dimensions.</summary>
    public static void Validate(IReadOnlyDictionary<string, long[]> shapes, IReadOnlyList<ModelInput> inputs)
    {
        foreach (var (name, dims) in shapes)
        {
            var input = inputs.FirstOrDefault(i => i.Name == name) ?? throw new OnnxQuantException(
                $"--shape names '{name}', which is not a model input; the inputs are {string.Join(", ", inputs.Select(i => i.Name))}.");
            if (dims.Length != input.Rank)
                throw new OnnxQuantException($"--shape {name}={string.Join(",", dims)} has rank {dims.Length}, but input '{name}' is {input.DescribeShape()} (rank {input.Rank}).");
            for (int k = 0; k < dims.Length; k++)
                if (input.Dims[k].Value is long fixedDim && fixedDim != dims[k])
                    throw new OnnxQuantException($"--shape {name}={string.Join(",", dims)}: dimension {k} of input '{name}' is fixed to {fixedDim}.");
        }
    }
}
