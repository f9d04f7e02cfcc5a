using OnnxQuant.Ir;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.DataSources;

namespace OnnxQuant.Passes.Quantization.Diffusion;

/// <summary>
/// Per-timestep-group activation ranges (Q-Diffusion / TFMQ-DM's observation that ranges move with t): runs the float
/// model over the calibration feeds (e.g. <c>--data sampler:FILE</c>, the sampling trajectory), puts each batch in the
/// group of its first row's timestep (<see cref="TimestepGroups"/>) and keeps each tensor's min and max per group.
/// </summary>
public sealed class TimestepRanges
{
    private readonly Dictionary<string, (float Min, float Max)[]> _ranges = new(StringComparer.Ordinal);

    public TimestepGroups Groups { get; }

    /// <summary>Batches seen per group.</summary>
    public int[] Batches { get; }

    private TimestepRanges(TimestepGroups groups)
    {
        Groups = groups;
        Batches = new int[groups.Count];
    }

    /// <summary>Min and max of <paramref name="tensor"/> per group (NaN, NaN where no batch fell in the group).</summary>
    public (float Min, float Max)[] Of(string tensor) => _ranges[tensor];

    public bool Has(string tensor) => _ranges.ContainsKey(tensor);

    public static TimestepRanges Collect(Model model, CalibrationDataSource data, string timestepInput, TimestepGroups groups,
        IReadOnlyList<string> tensors, RunnerOptions runnerOptions, CancellationToken cancel)
    {
        var result = new TimestepRanges(groups);
        foreach (var name in tensors)
            result._ranges[name] = Enumerable.Repeat((float.NaN, float.NaN), groups.Count).ToArray();
        using var runner = ModelRunner.FromModel(model, runnerOptions, tensors);
        foreach (var batch in data.Batches())
        {
            cancel.ThrowIfCancellationRequested();
            if (!batch.Feeds.TryGetValue(timestepInput, out var t))
                throw new OnnxQuantException($"insert-timestep-qdq: the calibration data has no '{timestepInput}' (the timestep input); "
                    + "name the model's timestep input with 'timestep-input', and calibrate with --data sampler:FILE.");
            int g = groups.Of(FirstTimestep(t));
            result.Batches[g]++;
            var outputs = runner.Run(batch.Feeds, tensors);
            foreach (var name in tensors)
            {
                var span = outputs[name].AsSpan<float>();
                var ranges = result._ranges[name];
                float lo = ranges[g].Min, hi = ranges[g].Max;
                foreach (float v in span)
                {
                    if (!float.IsFinite(v)) continue;
                    if (!(v >= lo)) lo = v;
                    if (!(v <= hi)) hi = v;
                }
                ranges[g] = (lo, hi);
            }
        }
        return result;
    }

    /// <summary>t[0] of an integer or float timestep tensor (a float t is truncated, as the graph's Cast does).</summary>
    public static long FirstTimestep(Tensor t)
    {
        if (t.ElementCount == 0) throw new OnnxQuantException("insert-timestep-qdq: an empty timestep tensor in the calibration data.");
        return t.ElementType switch
        {
            DataType.Int64 => t.AsSpan<long>()[0],
            DataType.Int32 => t.AsSpan<int>()[0],
            DataType.Float => (long)t.AsSpan<float>()[0],
            DataType.Double => (long)t.AsSpan<double>()[0],
            _ => throw new OnnxQuantException($"insert-timestep-qdq: the timestep input is {t.ElementType.OnnxName()}; int64, int32, float or double expected."),
        };
    }
}
