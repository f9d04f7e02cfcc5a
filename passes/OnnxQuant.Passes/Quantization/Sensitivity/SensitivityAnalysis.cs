using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Runtime.Evaluation;
using OnnxQuant.Runtime;

namespace OnnxQuant.Passes.Quantization.Sensitivity;

/// <summary>
/// Which node groups hurt accuracy most when quantized, measured on calibration data only: the nodes
/// <see cref="InsertQdqPass"/> would quantize are grouped by <see cref="NodeRoles"/>; for each group the model is
/// quantized twice — only that group, and everything but that group — and its outputs compared with the float
/// model's over the given samples (SQNR = 10·log10(Σ ref² / Σ (ref − q)²) over all outputs together). Groups are
/// listed with the lowest "only this group" SQNR first. ORT runs with graph optimizations off, so a QDQ model computes
/// exactly the fake-quantized float graph. The input model must already be canonicalized and calibrated (the
/// recipe's passes before <c>insert-qdq</c>); node names are what the groups list, so unnamed nodes get names.
/// </summary>
public static class SensitivityAnalysis
{
    public static SensitivityReport Run(Model calibrated, CalibrationResult calibration, InsertQdqOptions options,
        IReadOnlyList<IReadOnlyDictionary<string, Tensor>> samples, string modelName, string recipeName,
        Action<string>? log = null, CancellationToken cancellation = default)
    {
        if (samples.Count == 0) throw new OnnxQuantException("sensitivity: no samples to measure with.");
        var graph = calibrated.Graph;
        foreach (var node in graph.Nodes)
            if (string.IsNullOrEmpty(node.Name)) node.Name = graph.FreshName(node.OpType);
        var ops = InsertQdqPass.OpTypesOf(options);
        var candidates = QuantizationCandidates.In(graph, ops, options.ExcludeNodes.Select(NameGlob.Compile).ToList());
        if (candidates.Count == 0) throw new OnnxQuantException($"sensitivity: the model has no node that insert-qdq would quantize ({string.Join(", ", ops)}).");
        var groups = NodeRoles.Classify(graph, candidates).GroupBy(g => g.Value, g => g.Key.Name!)
            .ToDictionary(g => g.Key, g => g.ToList());

        byte[] floatBytes = OnnxWriter.ToBytes(calibrated);
        var outputs = graph.Outputs.Select(o => o.Name!).ToList();
        var reference = RunAll(calibrated, samples, outputs);

        double Measure(IReadOnlyCollection<string> floatNodes)
        {
            cancellation.ThrowIfCancellationRequested();
            using var model = OnnxReader.Read(floatBytes, calibrated.BaseDirectory);
            var variant = Copy(options);
            variant.ExcludeNodes = [.. options.ExcludeNodes, .. floatNodes];
            var context = new PassContext(cancellation: cancellation);
            // Statistics are looked up by value: map them onto this copy's values (same names) at the boundary.
            context.SetAnalysis(calibration.Rebind(model));
            new InsertQdqPass().Run(model, variant, context);
            var quantized = RunAll(model, samples, outputs);
            var stats = new ErrorStatistics();
            for (int s = 0; s < samples.Count; s++)
                foreach (string name in outputs)
                    stats.Add(reference[s][name], quantized[s][name]);
            return stats.SqnrDb;
        }

        var all = candidates.Select(n => n.Name!).ToList();
        double allSqnr = Measure([]);
        log?.Invoke($"all {all.Count} nodes quantized: {allSqnr:F2} dB");
        var rows = new List<SensitivityRow>();
        foreach (var (group, names) in groups.OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var set = names.ToHashSet(StringComparer.Ordinal);
            double only = Measure(all.Where(n => !set.Contains(n)).ToList());
            double allBut = Measure(names);
            log?.Invoke($"{group} ({names.Count}): only {only:F2} dB, all but {allBut:F2} dB");
            rows.Add(new SensitivityRow(group, names.Count, only, allBut, names));
        }
        return new SensitivityReport(modelName, recipeName, samples.Count, candidates.Count, allSqnr,
            rows.OrderBy(r => r.OnlyThisSqnrDb).ThenBy(r => r.Group, StringComparer.Ordinal).ToList());
    }

    private static List<Dictionary<string, float[]>> RunAll(Model model, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> samples, IReadOnlyList<string> outputs)
    {
        using var runner = ModelRunner.FromModel(model, new RunnerOptions { IntraOpThreads = 2 });
        return samples.Select(feeds => runner.Run(feeds, outputs).ToDictionary(o => o.Key, o => o.Value.ToFloatArray())).ToList();
    }

    /// <summary>A shallow copy of every option, so options added later travel too.</summary>
    private static InsertQdqOptions Copy(InsertQdqOptions options)
    {
        var copy = new InsertQdqOptions();
        foreach (var p in typeof(InsertQdqOptions).GetProperties())
            if (p.CanWrite && p.CanRead) p.SetValue(copy, p.GetValue(options));
        return copy;
    }
}
