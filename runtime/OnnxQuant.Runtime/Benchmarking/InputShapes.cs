using System.Globalization;
using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.Benchmarking;

/// <summary>
/// Input shapes for a benchmark: <c>--shape NAME=D0,D1,...</c> fixes an input's dimensions; inputs whose dimensions
/// are all known need none. A free dimension is never guessed: a latency is only meaningful with the batch and
/// sequence sizes it was measured at, so the user states them.
/// </summary>
public static class InputShapes
{
    /// <summary>Parses <c>NAME=D0,D1,...</c> specs (sizes are positive integers); a name may be given once.</summary>
    public static Dictionary<string, long[]> Parse(IEnumerable<string> specs)
    {
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (string spec in specs)
        {
            int eq = spec.LastIndexOf('=');
            if (eq <= 0)
                throw new OnnxQuantException($"--shape '{spec}': expected NAME=D0,D1,... (the input's name, '=', its sizes separated by commas), e.g. --shape pixel_values=1,3,224,224.");
            string name = spec[..eq];
            string dims = spec[(eq + 1)..];
            if (dims.Trim().Length == 0)
                throw new OnnxQuantException($"--shape '{spec}': no sizes after '='; give one size per dimension, e.g. {name}=1,3,224,224.");
            var sizes = new List<long>();
            foreach (string part in dims.Split(','))
            {
                if (!long.TryParse(part.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long size) || size <= 0)
                    throw new OnnxQuantException($"--shape '{spec}': '{part}' is not a size; sizes are positive integers separated by commas, e.g. {name}=1,3,224,224.");
                sizes.Add(size);
            }
            if (!shapes.TryAdd(name, [.. sizes]))
                throw new OnnxQuantException($"--shape gives input '{name}' twice; give each input's shape once.");
        }
        return shapes;
    }

    /// <summary>
    /// The sizes of every input <paramref name="model"/> must be fed (inputs that are initializers excluded), from
    /// <paramref name="given"/> or the model's own static shapes. Errors name the input and the model file
    /// <paramref name="file"/>, and say which <c>--shape</c> would fix them.
    /// </summary>
    public static Dictionary<string, long[]> Resolve(Model model, IReadOnlyDictionary<string, long[]> given, string file)
    {
        var inputs = FedInputs(model);
        foreach (string name in given.Keys)
            if (!inputs.Any(i => i.Name == name))
                throw new OnnxQuantException(
                    $"--shape names '{name}', which is not an input of {file}; its inputs are: {string.Join(", ", inputs.Select(i => i.Name))}.");

        var resolved = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var input in inputs)
        {
            string name = input.Name!;
            if (input.Type is not TensorType tt)
                throw new OnnxQuantException($"Input '{name}' of {file} is not a tensor ({input.Type}); bench feeds tensors only.");
            var shape = tt.Shape;
            if (given.TryGetValue(name, out var sizes))
            {
                if (shape is not null && shape.Rank != sizes.Length)
                    throw new OnnxQuantException(
                        $"--shape {name}={Join(sizes)} has {sizes.Length} dimensions, but input '{name}' of {file} has {shape.Rank}: {shape}.");
                for (int d = 0; shape is not null && d < shape.Rank; d++)
                    if (shape[d].Value is long known && known != sizes[d])
                        throw new OnnxQuantException(
                            $"--shape {name}={Join(sizes)} sets dimension {d} to {sizes[d]}, but input '{name}' of {file} fixes it to {known} (shape {shape}).");
                resolved[name] = sizes;
                continue;
            }
            if (shape is null)
                throw new OnnxQuantException($"Input '{name}' of {file} has no recorded shape; give its sizes with --shape {name}=D0,D1,...");
            if (!shape.IsStatic)
            {
                var free = shape.Dims.Select((dim, i) => (dim, i)).Where(x => !x.dim.IsKnown)
                    .Select(x => x.dim.Param is { } p ? $"'{p}' (dimension {x.i})" : $"dimension {x.i}").ToList();
                string example = string.Join(",", shape.Dims.Select(dim => dim.Value ?? 1));
                throw new OnnxQuantException(
                    $"Input '{name}' of {file} has shape {shape} with free {(free.Count == 1 ? "dimension" : "dimensions")} {string.Join(", ", free)}; "
                    + $"give its sizes with --shape, e.g. --shape {name}={example}.");
            }
            resolved[name] = shape.ToArray()!;
        }
        return resolved;
    }

    /// <summary>Graph inputs a caller feeds: those that are not initializers.</summary>
    public static List<Value> FedInputs(Model model) => model.Graph.Inputs.Where(i => i.Const is null).ToList();

    private static string Join(long[] sizes) => string.Join(",", sizes);
}
