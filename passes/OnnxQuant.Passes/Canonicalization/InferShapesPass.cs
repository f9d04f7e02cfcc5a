using System.Globalization;
using OnnxQuant.Ir;
using OnnxQuant.Passes.Analysis.ShapeInference;
using OnnxQuant.Runtime;

namespace OnnxQuant.Passes.Canonicalization;

/// <summary>
/// <c>infer-shapes</c>: records element types and shapes on every value static inference can work out
/// (<see cref="ShapeInference"/>), optionally after fixing the graph inputs' shapes (<c>shapes</c>), and optionally
/// fills what remains unknown with the shapes ONNX Runtime produces on a seeded sample (<c>run-ort</c>).
/// Declared types are never contradicted: a disagreement keeps the model's type and is counted
/// (<c>infer-shapes.conflicts</c>), or fails the pass with <c>fail-on-conflict</c>.
/// With <c>run-ort</c> and inputs that still have free dimensions, only element types and ranks are filled (sizes
/// seen on a sample may follow the inputs): give <c>shapes</c> to get sizes.
/// Preconditions: none. Changes only types (and, with <c>shapes</c>, the inputs' declared shapes).
/// </summary>
public sealed class InferShapesPass : Pass<InferShapesOptions>
{
    public override string Name => "infer-shapes";
    public override string Summary => "Infer element types and shapes of all values (optionally fixing input shapes, or with ONNX Runtime's help).";

    /// <summary>Only types and shapes change: every value computes what it did, so calibration statistics stay valid.</summary>
    public override StatisticsUse Statistics => StatisticsUse.PreservesAll;

    public override PassResult Run(Model model, InferShapesOptions options, PassContext context)
    {
        var fixedShapes = ParseShapes(options.Shapes);
        bool modified = ApplyInputShapes(model, fixedShapes);
        var stats = ShapeInference.Run(model);
        Report(stats, context);
        if (options.FailOnConflict && stats.Conflicts.Count > 0)
            throw ConflictError(stats);
        modified |= stats.Refined > 0;
        if (options.RunOrt)
        {
            int filled = FillFromOrt(model, context);
            context.Count("ort-filled", filled);
            if (filled > 0)
            {
                modified = true;
                var again = ShapeInference.Run(model);
                context.Count("refined", again.Refined);
                if (options.FailOnConflict && again.Conflicts.Count > 0) throw ConflictError(again);
                stats = again;
            }
        }
        context.Log($"infer-shapes: {stats}");
        return PassResult.From(modified);
    }

    private static void Report(ShapeInferenceStats stats, PassContext context)
    {
        context.Count("refined", stats.Refined);
        context.Count("conflicts", stats.Conflicts.Count);
        context.Count("no-rule", stats.UnsupportedOps.Values.Sum());
        foreach (string conflict in stats.Conflicts.Take(10)) context.Log("infer-shapes: conflict: " + conflict);
    }

    private static OnnxQuantException ConflictError(ShapeInferenceStats stats) => new(
        $"Shape inference contradicts {stats.Conflicts.Count} type(s) the model declares, e.g. {string.Join("; ", stats.Conflicts.Take(3))}. " +
        "Fix the model's value_info, or drop fail-on-conflict to keep the declared types.");

    /// <summary>Parses <c>name=1,3,48,320</c> entries (a non-numeric size is a symbolic dimension).</summary>
    internal static Dictionary<string, Dim[]> ParseShapes(IEnumerable<string> entries)
    {
        var result = new Dictionary<string, Dim[]>(StringComparer.Ordinal);
        foreach (string entry in entries)
        {
            int eq = entry.LastIndexOf('=');
            if (eq <= 0)
                throw new OnnxQuantException($"infer-shapes: shape '{entry}' is not of the form name=d0,d1,… (e.g. x=1,3,48,320).");
            string name = entry[..eq].Trim();
            string list = entry[(eq + 1)..].Trim().TrimStart('[').TrimEnd(']');
            var dims = list.Length == 0 ? [] : list.Split(',').Select(s => s.Trim()).Select(s =>
                long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long n) && n >= 0 ? Dim.Known(n)
                : s.Length > 0 && !char.IsDigit(s[0]) && s[0] != '-' ? Dim.Symbolic(s)
                : throw new OnnxQuantException($"infer-shapes: shape '{entry}' has the size '{s}', which is neither a non-negative number nor a name.")).ToArray();
            if (!result.TryAdd(name, dims))
                throw new OnnxQuantException($"infer-shapes: input '{name}' is given two shapes; give each input once.");
        }
        return result;
    }

    private static bool ApplyInputShapes(Model model, Dictionary<string, Dim[]> shapes)
    {
        bool modified = false;
        var inputs = model.Graph.Inputs.Where(v => v.Const is null).ToList();
        foreach (var (name, dims) in shapes)
        {
            var input = inputs.FirstOrDefault(v => v.Name == name) ?? throw new OnnxQuantException(
                $"infer-shapes: the model has no input '{name}'; its inputs are {string.Join(", ", inputs.Select(v => v.Name))}.");
            if (input.Type is not TensorType { ElementType: not DataType.Undefined } t)
                throw new OnnxQuantException($"infer-shapes: input '{name}' has no tensor element type ({input.Type?.ToString() ?? "untyped"}), so its shape cannot be set.");
            if (t.Shape is { } declared)
            {
                if (declared.Rank != dims.Length)
                    throw new OnnxQuantException($"infer-shapes: input '{name}' has rank {declared.Rank} ({declared}) but its given shape has {dims.Length} sizes.");
                for (int i = 0; i < dims.Length; i++)
                    if (declared[i].IsKnown && dims[i].Value != declared[i].Value)
                        throw new OnnxQuantException($"infer-shapes: input '{name}' declares size {declared[i]} for dimension {i}, but the given shape says {dims[i]}.");
            }
            var shape = new Shape(dims);
            if (Equals(t.Shape, shape)) continue;
            input.Type = t with { Shape = shape };
            modified = true;
        }
        return modified;
    }

    /// <summary>
    /// Runs the model in ONNX Runtime with every main-graph value whose shape is still not static exposed as an
    /// output, and records what it sees; returns how many values got more precise. With static inputs the sizes are
    /// facts and fill every unknown or symbolic dimension. With free input dimensions a size seen on one sample may
    /// follow the inputs (a width after strided convolutions collapses to the same small number for many sample
    /// widths), so only element types and ranks are filled, and only when two runs with different free sizes agree.
    /// </summary>
    private static int FillFromOrt(Model model, PassContext context)
    {
        var free = model.Graph.Inputs.Where(v => v.Const is null && v.Type is TensorType { Shape: null or { IsStatic: false } }).ToList();
        // With free inputs only types and ranks can be filled, so values that have both need no run.
        var pending = model.Graph.Nodes.SelectMany(n => n.Outputs)
            .Where(v => v is not null && v.Type is null or UnspecifiedType or TensorType { Shape: null }
                || (free.Count == 0 && v!.Type is TensorType { Shape.IsStatic: false }))
            .Cast<Value>().ToList();
        if (pending.Count == 0) return 0;
        if (free.Find(v => ((TensorType)v.Type!).Shape is null) is { } rankless)
            throw new OnnxQuantException($"infer-shapes: run-ort needs the rank of input '{rankless.Name}'; give its shape with the shapes option.");
        var names = pending.Select(v => v.Name!).ToList();
        var first = RunSample(model, names, context.Seed, context.Runner, free, freeSize: 2);
        var second = free.Count > 0 ? RunSample(model, names, context.Seed + 1, context.Runner, free, freeSize: 3) : null;
        int filled = 0;
        foreach (var v in pending)
        {
            if (!first.TryGetValue(v.Name!, out var a)) continue;
            var declared = v.Type as TensorType;
            var shape = declared?.Shape;
            if (second is not null)
            {
                if (!second.TryGetValue(v.Name!, out var b) || b.Rank != a.Rank) continue;
                shape ??= new Shape(Enumerable.Repeat(Dim.Unknown, a.Rank));
            }
            else
            {
                if (shape is not null && shape.Rank != a.Rank)
                {
                    context.Count("ort-conflicts");
                    continue;
                }
                shape = new Shape(a.Dims.Select((size, i) => shape is not null && shape[i].IsKnown
                    ? shape[i] : Dim.Known(size) with { Denotation = shape?[i].Denotation }));
            }
            var type = new TensorType(declared?.ElementType is { } e and not DataType.Undefined ? e : a.ElementType, shape)
            {
                Denotation = declared?.Denotation,
            };
            if (Equals(type, v.Type)) continue;
            v.Type = type;
            filled++;
        }
        return filled;
    }

    private static IReadOnlyDictionary<string, Tensor> RunSample(Model model, List<string> names, int seed, RunnerOptions runnerOptions, List<Value> free, long freeSize)
    {
        var shapes = free.ToDictionary(v => v.Name!, v => ((TensorType)v.Type!).Shape!.Dims.Select(d => d.Value ?? freeSize).ToArray());
        var feeds = SampleInputs.ForModel(model, seed, shapes);
        try
        {
            using var runner = ModelRunner.FromModel(model, runnerOptions, extraOutputs: names);
            return runner.Run(feeds, names);
        }
        catch (OnnxQuantException e) when (free.Count > 0)
        {
            throw new OnnxQuantException(
                $"infer-shapes: ONNX Runtime could not run the model with free input sizes of {freeSize} ({e.Message}). " +
                $"Give the inputs' shapes with the shapes option, e.g. shapes: [\"{free[0].Name}=…\"].", e);
        }
    }
}
