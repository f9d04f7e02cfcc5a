using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Quantization.AutoPrecision;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Diffusion;

namespace OnnxQuant.Passes.Quantization.Diffusion;

/// <summary>
/// Auto-precision for diffusion denoisers (issue 15; ViDiT-Q's mixed precision of the sensitive layers, found by
/// measurement instead of by name or structure). Every MatMul/Gemm starts as <c>w8a8-diffusion</c>'s kernels quantize
/// it — int8 weights per column, activation ranges at run time (<see cref="InsertDynamicQdqPass"/>; static ranges of
/// adaLN-modulated activations are what fails on a denoiser) — with no layer excluded, not even the conditioning path
/// or the output layer; then layers go back to float, one at a time, until the final samples of the sampling loop
/// meet <see cref="FinalSampleTarget"/> on held-out noise (<see cref="FinalSampleScorer"/>: the sampler runs from the
/// run's <c>--seed</c>, noise indices 0..samples−1; evaluate with another seed). The search is auto-precision's lazy
/// greedy: each candidate's gain of the target's bound when it alone is float is measured on the all-int8 model; the
/// layer of most gain per estimated nanosecond added (<see cref="KernelCosts"/>) is measured again on the current
/// model when the model changed since, and kept when it still leads; when no known change gains, every candidate is
/// measured again on the current model, and the search stops if none gains <c>min-gain</c>.
/// Every measurement of the first round (the layers' sensitivities) and every decision go into the output's metadata
/// under <see cref="MetadataKey"/>, each layer with its structural role (<see cref="DenoiserStructure"/>).
/// Preconditions: those of insert-dynamic-qdq; a sampler (<c>--data sampler:FILE</c> or the <c>sampler</c> option)
/// whose loop the model runs. Does not fire (nothing float) when the all-int8 model already meets the target; the
/// metadata says so. Deterministic for the same seed, except when the time cap stops it.
/// </summary>
public sealed class DiffusionAutoPrecisionPass : Pass<DiffusionAutoPrecisionOptions>
{
    /// <summary>The metadata key of the search's record.</summary>
    public const string MetadataKey = "diffusion-auto-precision";

    public override string Name => "diffusion-auto-precision";

    public override string Summary => "Dynamic W8A8 with the layers left float chosen by measuring the final samples of the sampling loop against float (target psnr=DB on held-out noise).";

    public override IReadOnlyList<string> Provides => ["qdq"];

    public override PassResult Run(Model model, DiffusionAutoPrecisionOptions options, PassContext context)
    {
        FloatModelPrecondition.Check(model, Name, InsertDynamicQdqPass.RequiredOpset, "DynamicQuantizeLinear needs");
        var cli = context.GetAnalysis<AutoPrecisionSettings>() ?? new AutoPrecisionSettings();
        if (cli.MaxLatency is not null || cli.Labels is not null || cli.Keys is not null)
            throw new OnnxQuantException($"{Name}: --max-latency, --labels and --keys are auto-precision's; this step takes --target psnr=DB and --max-minutes.");
        var target = FinalSampleTarget.Parse(cli.Target ?? options.Target, Name);
        double maxMinutes = cli.MaxMinutes ?? options.MaxMinutes;
        if (maxMinutes <= 0) throw new OnnxQuantException($"{Name}: max-minutes must be more than 0; {maxMinutes} is not.");
        if (options.Z < 0) throw new OnnxQuantException($"{Name}: z must be 0 or more; {options.Z} is not.");
        if (options.Batch < 1) throw new OnnxQuantException($"{Name}: batch must be at least 1; {options.Batch} is not.");
        var spec = SamplerSpec.Load(SamplerPath(options, context));
        var clock = Stopwatch.StartNew();

        var graph = model.Graph;
        // Layers left float are named to insert-dynamic-qdq as exclude-nodes globs: a name holding * or ? would match others.
        foreach (var node in graph.Nodes)
            if (string.IsNullOrEmpty(node.Name) || node.Name.IndexOfAny(['*', '?']) >= 0) node.Name = graph.FreshName(node.OpType);
        var ops = new HashSet<string>(options.OpTypes.Count > 0 ? options.OpTypes : InsertDynamicQdqPass.DefaultOpTypes, StringComparer.Ordinal);
        var candidates = QuantizationCandidates.In(graph, ops, options.ExcludeNodes.Select(NameGlob.Compile).ToList())
            .Where(n => n.Inputs.Count > 1 && n.Inputs[1] is { IsConstant: true }).ToList();
        var conditioning = DenoiserStructure.ConditioningPath(graph);
        var outputLayers = DenoiserStructure.OutputLayers(graph);
        string RoleOf(Node n) => conditioning.Contains(n) ? "conditioning-path" : outputLayers.Contains(n) ? "output-layer" : "block";

        var runner = new RunnerOptions { Optimization = OptimizationLevel.All, IntraOpThreads = Math.Max(1, options.Threads) };
        var scorer = new FinalSampleScorer(model, spec, options.Samples, context.Seed, options.Batch, runner);
        byte[] floatBytes = OnnxWriter.ToBytes(model);
        var sizes = ElementCounts(model, candidates, scorer.FirstFeeds, runner);
        var costs = KernelCosts.Shipped;
        double Ns(Node n, PrecisionChoice c) => costs.Nanoseconds(KernelCosts.KindOf(n), c, KernelCosts.Macs(n, sizes.GetValueOrDefault(n.Outputs[0]?.Name ?? "")));
        double CostOf(Node n) => Math.Max(1e-3, Ns(n, PrecisionChoice.Float) - Ns(n, PrecisionChoice.Int8));

        var floatNodes = new SortedSet<string>(StringComparer.Ordinal);
        int measurements = 0;
        (double Bound, double Mean, double Worst) Score(IEnumerable<string> floats)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            using var variant = OnnxReader.Read(floatBytes, model.BaseDirectory);
            new InsertDynamicQdqPass().Run(variant, Quantization(options, floats), new PassContext(context.Seed, context.Cancellation));
            var psnrs = scorer.Measure(variant, context.Cancellation);
            measurements++;
            return (FinalSampleTarget.LowerBound(psnrs, options.Z), psnrs.Average(), psnrs.Min());
        }

        var start = Score(floatNodes);
        var score = start;
        context.Log($"{Name}: {candidates.Count} layers, {scorer.Count} held-out samples (noise seed {scorer.Seed}), {spec.Timesteps.Length} steps; "
            + $"all dynamic int8: mean {F(start.Mean)} dB, worst {F(start.Worst)} dB, bound {F(start.Bound)} dB ({target}, z {F(options.Z)}).");

        var trials = candidates.ToDictionary(n => n.Name!, n => new Trial(n), StringComparer.Ordinal);
        var sensitivity = new List<DiffusionLayerSensitivity>();
        var decisions = new List<DiffusionPrecisionDecision>();
        int version = 0;
        bool TimeUp() => clock.Elapsed.TotalMinutes >= maxMinutes;
        void MeasureTrial(Trial t)
        {
            var s = Score(floatNodes.Append(t.Node.Name!));
            t.Score = s;
            t.Gain = s.Bound - score.Bound;
            t.MeasuredAt = version;
        }
        string stopped = "target holds";
        if (!target.Holds(score.Bound))
        {
            // The first round: every layer's sensitivity on the all-int8 model (the gain of leaving it alone float).
            foreach (var t in trials.Values)
            {
                if (TimeUp()) break;
                MeasureTrial(t);
                sensitivity.Add(new DiffusionLayerSensitivity(t.Node.Name!, RoleOf(t.Node), Round(t.Score.Bound), Round(t.Score.Mean), Round(t.Gain), Round(CostOf(t.Node))));
            }
            sensitivity.Sort((a, b) => b.Gain.CompareTo(a.Gain) != 0 ? b.Gain.CompareTo(a.Gain) : string.CompareOrdinal(a.Node, b.Node));
            context.Log($"{Name}: most sensitive (gain of the bound when float alone): "
                + string.Join(", ", sensitivity.Take(8).Select(s => $"{s.Node} [{s.Role}] {F(s.Gain)} dB")) + ".");
        }
        bool Gains(Trial t) => t.MeasuredAt >= 0 && t.Gain >= options.MinGain && t.Gain > 0;
        while (!target.Holds(score.Bound))
        {
            if (TimeUp())
            {
                stopped = $"time cap ({maxMinutes.ToString(CultureInfo.InvariantCulture)} min) reached";
                break;
            }
            var open = trials.Values.Where(Gains).ToList();
            if (open.Count == 0)
            {
                // Nothing known gains: measure every remaining layer again on the current model.
                var stale = trials.Values.Where(t => t.MeasuredAt != version).ToList();
                if (stale.Count == 0)
                {
                    stopped = trials.Count == 0 ? "every layer is float" : $"no layer left float gains {options.MinGain.ToString(CultureInfo.InvariantCulture)} dB";
                    break;
                }
                foreach (var t in stale)
                {
                    if (TimeUp()) break;
                    MeasureTrial(t);
                }
                continue;
            }
            var top = open.OrderByDescending(t => t.Gain / CostOf(t.Node)).ThenBy(t => t.Node.Name, StringComparer.Ordinal).First();
            if (top.MeasuredAt != version)
            {
                MeasureTrial(top);
                continue;
            }
            floatNodes.Add(top.Node.Name!);
            trials.Remove(top.Node.Name!);
            version++;
            decisions.Add(new DiffusionPrecisionDecision(top.Node.Name!, RoleOf(top.Node), Round(score.Bound), Round(top.Score.Bound), Round(top.Score.Mean), Round(CostOf(top.Node))));
            context.Log($"{Name}: {top.Node.Name} [{RoleOf(top.Node)}] → float: bound {F(score.Bound)} → {F(top.Score.Bound)} dB (mean {F(top.Score.Mean)}, worst {F(top.Score.Worst)}).");
            score = top.Score;
        }

        // The estimate needs the float nodes, which the rewrite below replaces.
        double floatNs = candidates.Sum(n => Ns(n, PrecisionChoice.Float));
        double ratio = candidates.Sum(n => Ns(n, floatNodes.Contains(n.Name!) ? PrecisionChoice.Float : PrecisionChoice.Int8)) / Math.Max(1e-12, floatNs);
        var result = new InsertDynamicQdqPass().Run(model, Quantization(options, floatNodes), context);
        bool holds = target.Holds(score.Bound);
        if (!holds) context.Log($"{Name}: warning: target {target} not reached (bound {F(score.Bound)} dB; {stopped}); the best model found is written.");
        context.Log($"{Name}: {floatNodes.Count} of {candidates.Count} layers float, {measurements} measurements in {clock.Elapsed.TotalSeconds:F0} s; {stopped}.");
        context.Count("nodes-float", floatNodes.Count);
        context.Count("measurements", measurements);
        var summary = new DiffusionAutoPrecisionSummary(target.ToString(), options.Z, scorer.Count, scorer.Seed, spec.Timesteps.Length,
            Round(start.Bound), Round(start.Mean), Round(score.Bound), Round(score.Mean), Round(score.Worst), holds, Round(ratio),
            candidates.Count, measurements, stopped, sensitivity, decisions);
        model.Metadata.RemoveAll(e => e.Key == MetadataKey);
        model.Metadata.Add(new(MetadataKey, JsonSerializer.Serialize(summary, AutoPrecisionPass.JsonOptions)));
        return result;
    }

    private string SamplerPath(DiffusionAutoPrecisionOptions options, PassContext context)
    {
        if (!string.IsNullOrEmpty(options.Sampler)) return options.Sampler;
        if (context.GetAnalysis<CalibrationSettings>()?.Data is { } data && SamplerTrajectories.IsSamplerData(data) && data.Length > SamplerTrajectories.Prefix.Length)
            return data[SamplerTrajectories.Prefix.Length..];
        throw new OnnxQuantException($"{Name}: no sampler to measure the final samples with; give --data sampler:FILE (e.g. --data sampler:dit_mnist_sampler.json) or the step's sampler option.");
    }

    /// <summary>insert-dynamic-qdq's options: every layer quantized except <paramref name="floats"/> and the step's exclusions.</summary>
    private static InsertDynamicQdqOptions Quantization(DiffusionAutoPrecisionOptions options, IEnumerable<string> floats) => new()
    {
        OpTypes = [.. options.OpTypes],
        ExcludeNodes = [.. options.ExcludeNodes, .. floats],
    };

    /// <summary>Output element counts of the candidates on one sampler call (free batch dimensions are not in the inferred shapes).</summary>
    private static Dictionary<string, long> ElementCounts(Model model, IReadOnlyList<Node> candidates, IReadOnlyDictionary<string, Tensor>? feeds, RunnerOptions runner)
    {
        var names = candidates.Select(n => n.Outputs[0]?.Name).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        if (feeds is null || names.Count == 0) return [];
        using var exposed = ModelRunner.FromModel(model, runner with { Optimization = OptimizationLevel.None }, names);
        var outputs = exposed.Run(feeds, names);
        return names.Where(outputs.ContainsKey).ToDictionary(n => n, n => outputs[n].ElementCount, StringComparer.Ordinal);
    }

    /// <summary>One layer's change to float: its last measured score and gain, and the model version it was measured on.</summary>
    private sealed class Trial(Node node)
    {
        public Node Node { get; } = node;
        public (double Bound, double Mean, double Worst) Score { get; set; }
        public double Gain { get; set; }
        public int MeasuredAt { get; set; } = -1;
    }

    private static double Round(double x) => double.IsFinite(x) ? Math.Round(x, 4) : x;

    private static string F(double x) => x.ToString("F2", CultureInfo.InvariantCulture);
}

/// <summary>A layer's sensitivity on the all-int8 model: the target's bound (and mean PSNR) with it alone float, the gain over all int8, and its estimated cost (ns per call) of staying float.</summary>
public sealed record DiffusionLayerSensitivity(string Node, string Role, double Bound, double Mean, double Gain, double CostNs);

/// <summary>One step of the search: <see cref="Node"/> (of <see cref="Role"/>) left float, the bound before and after.</summary>
public sealed record DiffusionPrecisionDecision(string Node, string Role, double BoundBefore, double BoundAfter, double MeanAfter, double CostNs);

/// <summary>What <see cref="DiffusionAutoPrecisionPass"/> did, as written to the output's metadata (key <see cref="DiffusionAutoPrecisionPass.MetadataKey"/>).</summary>
public sealed record DiffusionAutoPrecisionSummary(
    string Target,
    double Z,
    int HeldOutSamples,
    int NoiseSeed,
    int Steps,
    double StartBound,
    double StartMean,
    double FinalBound,
    double FinalMean,
    double FinalWorst,
    bool TargetHolds,
    double EstimatedLatencyRatio,
    int Candidates,
    int Measurements,
    string Stopped,
    IReadOnlyList<DiffusionLayerSensitivity> Sensitivity,
    IReadOnlyList<DiffusionPrecisionDecision> Decisions);
