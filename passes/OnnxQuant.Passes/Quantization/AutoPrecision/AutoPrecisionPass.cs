using System.Diagnostics;
using System.Text.Json;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Passes.Quantization.BiasCorrection;
using OnnxQuant.Passes.Quantization.Sensitivity;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.DataSources;

namespace OnnxQuant.Passes.Quantization.AutoPrecision;

/// <summary>
/// Accuracy-driven mixed precision (issue 13): static QDQ as <see cref="InsertQdqPass"/> writes it, but each
/// quantizable node gets int8 (the recipe's setting: per-channel int8 weights, 8-bit activations), int8 with its
/// activation ranges clipped at percentile 99.99 (<see cref="PrecisionChoice.Int8Clipped"/>), int16 activations,
/// or float, chosen so that a target holds on calibration samples the <c>calibrate</c> step held out
/// (<see cref="HeldOutSamples"/>): output SQNR ≥ X dB, or a task score (top-1, CTC exact match, PSNR) at most Y below
/// float's. The search is greedy, in the spirit of HAWQ/ORT's "find the nodes to leave in float" by measurement:
/// <list type="number">
/// <item>Quantize everything at int8 and score the model on the held-out samples.</item>
/// <item>While the target does not hold: run the float and current models with every quantizable node's inputs and
/// output exposed and rank the int8 nodes by local SQNR (signal over the error this node adds: its output's error power
/// less its worst activation input's, relative to the signal); for the <c>candidates</c> lowest, try int16 and float, score the
/// whole model each time, and keep the change with the most score gained per estimated nanosecond added
/// (<see cref="KernelCosts"/>: a shipped table, never timed during a run) that stays within <c>max-latency</c>.</item>
/// <item>Stop when the target holds, when no tried change improves the score, or after <c>max-minutes</c> (the
/// best model so far is kept and the metadata says why it stopped).</item>
/// </list>
/// Every decision and the measurement behind it goes into the output's metadata under <see cref="MetadataKey"/>
/// (JSON, <see cref="AutoPrecisionSummary"/>). Deterministic for the same data, except when the time cap stops it.
/// Preconditions: those of insert-qdq, and a <c>calibrate</c> step before it with data to hold samples out of (it
/// calibrates on all but the last <c>holdout</c> samples). Does not fire on nodes insert-qdq would not quantize.
/// Choices not made: per-tensor weight scales (never more accurate than per-channel at the same kernel cost, so the
/// greedy could not pick them) and the equivalence transforms (they rewrite the whole model; run them before).
/// </summary>
public sealed class AutoPrecisionPass : Pass<AutoPrecisionOptions>
{
    /// <summary>The metadata key of the search's record (not under <c>onnxquant.</c>, which provenance rewrites).</summary>
    public const string MetadataKey = "auto-precision";

    private const double CapDb = 100;

    /// <summary>Automatic screening: on <see cref="AutoScreenSamples"/> samples when one float run is estimated at this many ms or more.</summary>
    public const double AutoScreenMs = 100;

    /// <summary>Held-out samples automatic screening measures candidates on.</summary>
    public const int AutoScreenSamples = 2;

    /// <summary>The percentile of <see cref="PrecisionChoice.Int8Clipped"/> (the issue's U-Net: 99.99 where the presets' 99.999 failed).</summary>
    public const double ClippedPercentile = 99.99;

    public override string Name => "auto-precision";

    public override string Summary => "Static QDQ with per-node int8 / int16-activation / float chosen greedily until an accuracy target holds on held-out calibration samples.";

    public override IReadOnlyList<string> Provides => ["qdq"];

    public override StatisticsUse Statistics { get; } = new() { Reads = StatisticKinds.Range, Preserves = StatisticsPreservation.Declared };

    public override void RequestStatistics(Model model, AutoPrecisionOptions options, StatisticsRequests requests) =>
        new InsertQdqPass().RequestStatistics(model, options.BaseQuantization(), requests);

    public override PassResult Run(Model model, AutoPrecisionOptions options, PassContext context)
    {
        var cli = context.GetAnalysis<AutoPrecisionSettings>() ?? new AutoPrecisionSettings();
        var target = AccuracyTarget.Parse(cli.Target ?? options.Target);
        double maxLatency = cli.MaxLatency ?? options.MaxLatency;
        double maxMinutes = cli.MaxMinutes ?? options.MaxMinutes;
        if (maxLatency < 0) throw new OnnxQuantException($"{Name}: max-latency is a ratio to float (e.g. 0.5), 0 for none; {maxLatency} is not.");
        if (maxMinutes <= 0) throw new OnnxQuantException($"{Name}: max-minutes must be more than 0; {maxMinutes} is not.");
        var calibration = context.GetAnalysis<CalibrationResult>()
            ?? throw new OnnxQuantException($"{Name}: no calibration: run the calibrate pass (with --data) before '{Name}'.");
        var held = context.GetAnalysis<HeldOutSamples>()
            ?? throw new OnnxQuantException($"{Name}: the calibrate step before it held no samples out (it reads statistics from --load-calib, or has no data); run it on --data.");
        var clock = Stopwatch.StartNew();

        var graph = model.Graph;
        foreach (var node in graph.Nodes)
            if (string.IsNullOrEmpty(node.Name)) node.Name = graph.FreshName(node.OpType);
        var baseOptions = options.BaseQuantization();
        var candidates = QuantizationCandidates.In(graph, InsertQdqPass.OpTypesOf(baseOptions), []);
        var groups = NodeRoles.Classify(graph, candidates).ToDictionary(e => e.Key.Name!, e => e.Value, StringComparer.Ordinal);
        var samples = LoadHeldOut(model, held, context);
        var runner = new RunnerOptions { IntraOpThreads = 2 };
        string? labels = cli.Labels ?? options.Labels, keys = cli.Keys ?? options.Keys;
        var scorer = new HeldOutScorer(model, samples, target.Metric, labels, keys, runner);
        byte[] floatBytes = OnnxWriter.ToBytes(model);
        var costs = KernelCosts.Shipped;

        var choice = candidates.ToDictionary(n => n.Name!, _ => PrecisionChoice.Int8, StringComparer.Ordinal);
        int measurements = 0;
        // A bias-correction step after this one changes every quantized layer's bias: each variant is measured with it,
        // so the scores (and whether the target holds) are those of the model that is written.
        var biasCorrection = FollowingBiasCorrection(context);
        if (biasCorrection is not null) context.Log($"{Name}: every variant is measured after bias-correction, as the recipe's next step writes it.");
        Model Build(IReadOnlyDictionary<string, PrecisionChoice> choices)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var copy = OnnxReader.Read(floatBytes, model.BaseDirectory);
            var inner = new PassContext(context.Seed, context.Cancellation);
            inner.SetAnalysis(calibration.Rebind(copy));
            if (biasCorrection is not null) inner.SetAnalysis(new QuantizedFloatWeights());
            new InsertQdqPass().Run(copy, WithChoices(baseOptions, choices), inner);
            biasCorrection?.Pass.Run(copy, biasCorrection.Options, inner);
            return copy;
        }
        double Score(IReadOnlyDictionary<string, PrecisionChoice> choices, HeldOutScorer on)
        {
            using var variant = Build(choices);
            measurements++;
            return on.Measure(variant);
        }

        // Sizes for the cost estimate come from one run of the float model with every candidate's output exposed.
        var tensorsOfInterest = candidates.SelectMany(n => n.Inputs.Concat(n.Outputs))
            .Where(v => v is { IsConstant: false, Name: not null }).Select(v => v!.Name!).Distinct(StringComparer.Ordinal).ToList();
        // Costs are fixed now, on the float graph (insert-qdq later replaces the weights that tell a kind apart).
        var sizes = scorer.ElementCounts(model, candidates.Select(n => n.Outputs[0]?.Name).OfType<string>().ToList());
        var nodeCosts = candidates.ToDictionary(n => n.Name!, n =>
        {
            string kind = KernelCosts.KindOf(n);
            double macs = KernelCosts.Macs(n, sizes.TryGetValue(n.Outputs[0]?.Name ?? "", out long e) ? e : null);
            return Enum.GetValues<PrecisionChoice>().ToDictionary(c => c, c => costs.Nanoseconds(kind, c, macs));
        }, StringComparer.Ordinal);
        double Ns(Node n, PrecisionChoice c) => nodeCosts[n.Name!][c];
        double LatencyRatio() => candidates.Sum(n => Ns(n, choice[n.Name!])) / Math.Max(1e-12, candidates.Sum(n => Ns(n, PrecisionChoice.Float)));

        // Screening: candidate changes (and the local-SQNR ranking) are measured on the first few held-out samples, and
        // a change is kept only after a measurement on all of them (so every kept score, and whether the target holds,
        // is the full held-out figure). A step then costs 2/8 of the sample runs per candidate instead of 8/8. A top-1
        // hit rate on 2 samples moves in steps of 50 points and cannot rank small changes: top-1 screens on all.
        // Screening pays where a run is expensive: on ppocr (est. a few ms per run) screening on 2 samples chose worse
        // changes than all 8 (98.0% vs 98.5% exact match) while the whole search on 8 took 92 s; on the taef2 encoder
        // (est. hundreds of ms) all 8 let the 5-minute cap stop it after 1 decision. The estimate is the shipped table's,
        // so the choice is the same on every machine (deterministic).
        if (options.ScreenSamples < -1) throw new OnnxQuantException($"{Name}: screen-samples is a count of held-out samples (0: all, -1: automatic); {options.ScreenSamples} is not.");
        double floatRunMs = candidates.Sum(n => Ns(n, PrecisionChoice.Float)) / 1e6;
        int wanted = options.ScreenSamples == -1 ? (floatRunMs >= AutoScreenMs ? AutoScreenSamples : 0) : options.ScreenSamples;
        int screenCount = wanted == 0 || target.Metric == TargetMetric.Top1 ? samples.Count : Math.Min(wanted, samples.Count);
        bool screening = screenCount < samples.Count;
        // Made when first needed (its float reference costs runs; a model that holds the target at once needs none).
        HeldOutScorer? screenScorer = null;
        HeldOutScorer Screen() => screening ? screenScorer ??= new HeldOutScorer(model, samples.Take(screenCount).ToList(), target.Metric, labels, keys, runner) : scorer;

        // Clipping needs histograms, which calibrate keeps for percentile, entropy and MSE ranges.
        PrecisionChoice[] alternatives = calibration.Options.Method == CalibrationMethod.MinMax
            ? [PrecisionChoice.Int16, PrecisionChoice.Float]
            : [PrecisionChoice.Int8Clipped, PrecisionChoice.Int16, PrecisionChoice.Float];
        double start = Score(choice, scorer), score = start;
        // The current model's score on the screening samples (what a screened change's gain is measured against).
        double screenScore = screening && !target.Holds(score, scorer.FloatScore) ? Score(choice, Screen()) : score;
        context.Log($"{Name}: {candidates.Count} nodes, {samples.Count} held-out samples; float {F(scorer.FloatScore)}, all int8 {F(score)} ({target}); float run estimated {F(floatRunMs)} ms, candidates screened on {screenCount}.");
        // Ranks the int8 nodes of the model built from `current` by local SQNR, lowest first.
        List<(Node Node, double Local)> RankByLocalSqnr(IReadOnlyDictionary<string, PrecisionChoice> current)
        {
            var local = new Dictionary<string, double>(StringComparer.Ordinal);
            // Each tensor as computed (its own name) and as the next node reads it (the DequantizeLinear after its
            // QuantizeLinear, named "q:" + the tensor here), both against the float tensor.
            using (var built = Build(current))
            {
                var pairs = tensorsOfInterest.ToDictionary(t => t, t => t, StringComparer.Ordinal);
                var dequantized = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var q in built.Graph.Nodes.Where(n => n.OpType == "QuantizeLinear"))
                    if (q.Inputs[0]?.Name is { } t && pairs.ContainsKey(t) && q.Outputs[0]?.Uses.FirstOrDefault().Node is { OpType: "DequantizeLinear" } dq
                        && dq.Outputs[0]?.Name is { } d)
                    {
                        pairs[d] = t;
                        dequantized[t] = d;
                    }
                var measured = Screen().TensorSqnr(model, built, pairs);
                foreach (string t in tensorsOfInterest)
                {
                    if (measured.TryGetValue(t, out double own)) local[t] = own;
                    if (dequantized.TryGetValue(t, out string? d) && measured.TryGetValue(d, out double read)) local["q:" + t] = read;
                }
            }
            // A graph input is exact; a tensor the run could not compare (renamed, other shape) says nothing.
            double? Sq(Value? v) => v is { IsGraphInput: true } ? CapDb
                : v?.Name is { } name && local.TryGetValue(name, out double s) ? Math.Min(s, CapDb) : null;
            // The SQNR of the error this node adds: output noise minus the worst input's noise (powers relative to the
            // signal), so error that merely flows through from earlier nodes is not blamed on it.
            double LocalSqnr(Node n)
            {
                // What this node's int8 choice quantizes: its inputs as it reads them, its weights, and its output as
                // the next node reads it (QLinearConv writes it quantized).
                double Noise(double? db) => db is { } x ? Math.Pow(10, -Math.Min(x, CapDb) / 10) : 0;
                double? Read(Value? v) => v?.Name is { } name && local.TryGetValue("q:" + name, out double s) ? s : Sq(v);
                var inputs = n.Inputs.Where(v => v is { IsConstant: false }).ToList();
                double before = inputs.Select(v => Noise(Sq(v))).DefaultIfEmpty(0).Max();
                double after = Math.Max(Noise(Sq(n.Outputs[0])), Noise(Read(n.Outputs[0])));
                double added = after - before;
                return added > 0 ? Math.Min(CapDb, -10 * Math.Log10(added)) : CapDb;
            }
            return candidates.Where(n => current[n.Name!] is PrecisionChoice.Int8 or PrecisionChoice.Int8Clipped)
                .Select(n => (Node: n, Local: LocalSqnr(n)))
                .OrderBy(x => x.Local).ThenBy(x => x.Node.Name, StringComparer.Ordinal).ToList();
        }

        var decisions = new List<AutoPrecisionDecision>();
        string stopped = "target holds";
        // Lazy greedy (Minoux's accelerated greedy): every change tried keeps the gain it was last measured with; the
        // change of most merit (gain per estimated nanosecond) is measured again only if the model changed since, and
        // kept when it still leads. Most gains hardly move when another node changes, so a round costs one or two
        // measurements instead of re-measuring every candidate. New nodes (the next `candidates` of lowest local
        // SQNR, which needs one run with every tensor exposed, and those measured on an older model again) are
        // measured only when no known change gains.
        var pool = new List<Trial>();
        int version = 0, triedSinceDecision = 0, widened = 0, rankedAt = -1;
        List<(Node Node, double Local)>? rankedNow = null;
        var scannedAt = new Dictionary<Node, int>();
        // Int16 activations where the cost table charges them at least float's (every Conv kind: ORT runs them in float
        // after DequantizeLinear) are dominated by float: no more accurate, no cheaper. Not measured there.
        bool Dominated(Node n, PrecisionChoice option) => option == PrecisionChoice.Int16 && Ns(n, PrecisionChoice.Int16) >= Ns(n, PrecisionChoice.Float);
        bool TimeUp() => clock.Elapsed.TotalMinutes >= maxMinutes;
        double CostOf(Trial t) => Ns(t.Node, t.Option) - Ns(t.Node, choice[t.Node.Name!]);
        bool WithinBudget(Trial t)
        {
            if (maxLatency <= 0) return true;
            var saved = choice[t.Node.Name!];
            choice[t.Node.Name!] = t.Option;
            double ratio = LatencyRatio();
            choice[t.Node.Name!] = saved;
            return ratio <= maxLatency;
        }
        void MeasureTrial(Trial t)
        {
            var trial = new Dictionary<string, PrecisionChoice>(choice, StringComparer.Ordinal) { [t.Node.Name!] = t.Option };
            t.Score = Score(trial, Screen());
            t.Gain = t.Score - screenScore;
            t.MeasuredAt = version;
            triedSinceDecision++;
        }
        bool Gains(Trial t) => t.Gain >= options.MinGain && t.Gain > 0 && t.Option != choice[t.Node.Name!];
        while (!target.Holds(score, scorer.FloatScore))
        {
            if (TimeUp())
            {
                stopped = $"time cap ({maxMinutes} min) reached";
                break;
            }
            var open = pool.Where(t => Gains(t) && WithinBudget(t)).ToList();
            if (open.Count == 0)
            {
                // Nothing known gains: measure, on the current model, the nodes of lowest local SQNR not measured on it
                // yet (a node whose change gained nothing while another layer was still broken may gain now).
                // The ranking is that of the current model, computed once per model (a widening that found nothing
                // moves on to the next nodes of the same ranking, up to `scan` nodes per model).
                bool Fresh(Node n) => scannedAt.TryGetValue(n, out int v) && v == version || pool.Any(t => t.Node == n && t.MeasuredAt == version);
                if (rankedAt != version)
                {
                    rankedNow = RankByLocalSqnr(choice);
                    rankedAt = version;
                }
                var rankedList = rankedNow!;
                int scanned = rankedList.Count(r => Fresh(r.Node));
                var ranked = rankedList.Where(r => !Fresh(r.Node)).Take(Math.Max(1, Math.Min(options.Candidates, Math.Max(1, options.Scan - scanned)))).ToList();
                context.Log($"{Name}: lowest local SQNR (not measured on this model): {string.Join(", ", ranked.Select(r => $"{r.Node.Name} {F(r.Local)} dB"))}.");
                if (ranked.Count == 0)
                {
                    stopped = pool.Count == 0 ? "every node is already int16 or float" : "every node was measured on this model";
                    break;
                }
                widened++;
                foreach (var (node, localSqnr) in ranked)
                {
                    // Visited on this model even where every option is out of the latency budget (not measured).
                    scannedAt[node] = version;
                    foreach (var option in alternatives.Where(a => a != choice[node.Name!] && !Dominated(node, a)))
                    {
                        if (TimeUp()) break;
                        var t = pool.FirstOrDefault(e => e.Node == node && e.Option == option);
                        if (t is null) pool.Add(t = new Trial(node, option, localSqnr));
                        else t.Local = localSqnr;
                        if (!WithinBudget(t)) continue;
                        MeasureTrial(t);
                    }
                }
                open = pool.Where(t => Gains(t) && WithinBudget(t)).ToList();
                if (open.Count == 0 && !TimeUp() && rankedList.Count(r => Fresh(r.Node)) < options.Scan && rankedList.Any(r => !Fresh(r.Node)))
                    continue;
                if (open.Count == 0)
                {
                    stopped = TimeUp() ? $"time cap ({maxMinutes} min) reached"
                        : $"no change to the {rankedList.Count(r => Fresh(r.Node))} nodes of lowest local SQNR gains {options.MinGain}" + (maxLatency > 0 ? " within the latency budget" : "");
                    break;
                }
            }
            var top = open.OrderByDescending(t => t.Gain / Math.Max(CostOf(t), 1e-3))
                .ThenBy(t => t.Node.Name, StringComparer.Ordinal).ThenBy(t => t.Option).First();
            if (top.MeasuredAt != version)
            {
                // Measured on an older model: measure again and let it compete with its new gain.
                if (TimeUp()) continue;
                MeasureTrial(top);
                continue;
            }
            double fullScore = top.Score;
            if (screening)
            {
                // Screened on a few samples: keep it only if it also gains on all of them.
                if (TimeUp()) continue;
                var trial = new Dictionary<string, PrecisionChoice>(choice, StringComparer.Ordinal) { [top.Node.Name!] = top.Option };
                fullScore = Score(trial, scorer);
                triedSinceDecision++;
                if (!(fullScore - score >= options.MinGain && fullScore > score))
                {
                    context.Log($"{Name}: {top.Node.Name} → {KebabCase.From(top.Option.ToString())} gained {F(top.Gain)} on {screenCount} samples but {F(fullScore - score)} on all {samples.Count}: not kept.");
                    top.Gain = fullScore - score;
                    continue;
                }
            }
            double cost = CostOf(top);
            choice[top.Node.Name!] = top.Option;
            version++;
            pool.Remove(top);
            decisions.Add(new AutoPrecisionDecision(top.Node.Name!, groups[top.Node.Name!], top.Option, Round(top.Local), Round(score), Round(fullScore), Round(cost), triedSinceDecision));
            context.Log($"{Name}: {top.Node.Name} ({groups[top.Node.Name!]}) → {KebabCase.From(top.Option.ToString())}: local SQNR {F(top.Local)} dB, score {F(score)} → {F(fullScore)} ({triedSinceDecision} measured, {F(clock.Elapsed.TotalSeconds)} s).");
            score = fullScore;
            // The trial was screened on this very model: its screening score is the new model's.
            screenScore = top.Score;
            triedSinceDecision = 0;
        }
        context.Count("widenings", widened);

        // The chosen model, built on the real graph with the context's own calibration.
        var result = new InsertQdqPass().Run(model, WithChoices(baseOptions, choice), context);
        bool holds = target.Holds(score, scorer.FloatScore);
        context.Count("nodes-int16", choice.Count(c => c.Value == PrecisionChoice.Int16));
        context.Count("nodes-float", choice.Count(c => c.Value == PrecisionChoice.Float));
        context.Count("nodes-int8-clipped", choice.Count(c => c.Value == PrecisionChoice.Int8Clipped));
        context.Count("measurements", measurements);
        long sampleRuns = scorer.SampleRuns + (screenScorer?.SampleRuns ?? 0);
        context.Count("sample-runs", sampleRuns);
        context.Log($"{Name}: {decisions.Count} decision(s), {measurements} models scored, {sampleRuns} held-out sample runs (screening on {screenCount} of {samples.Count}), {F(clock.Elapsed.TotalSeconds)} s.");
        if (!holds) context.Log($"{Name}: warning: target {target} not reached ({F(score)}; {stopped}); the best model found is written.");
        string metric = target.Metric == TargetMetric.Top1 ? (scorer.Labeled ? "top1" : "top1-agreement-with-float") : target.Metric.ToString().ToLowerInvariant();
        var summary = new AutoPrecisionSummary(target.ToString(), metric, samples.Count, held.Skip,
            Round(scorer.FloatScore), Round(start), Round(score), holds, Round(LatencyRatio()), maxLatency > 0 ? maxLatency : null,
            candidates.Count, measurements, stopped, costs.MadeBy, decisions, screenCount, sampleRuns);
        model.Metadata.RemoveAll(e => e.Key == MetadataKey);
        model.Metadata.Add(new(MetadataKey, JsonSerializer.Serialize(summary, JsonOptions)));
        return result;
    }

    /// <summary>How the summary is written (and read back, e.g. by the report).</summary>
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>
    /// insert-qdq's options with each node's choice as a name override (float: excluded; int16: activation type). Names
    /// are globs there: a name holding '*' or '?' would also match others (generated and exported names do not).
    /// </summary>
    public static InsertQdqOptions WithChoices(InsertQdqOptions baseOptions, IReadOnlyDictionary<string, PrecisionChoice> choices)
    {
        var options = new InsertQdqOptions
        {
            OpTypes = [.. baseOptions.OpTypes],
            ExcludeOpTypes = [.. baseOptions.ExcludeOpTypes],
            ActivationType = baseOptions.ActivationType,
            WeightGranularity = baseOptions.WeightGranularity,
            SymmetricActivations = baseOptions.SymmetricActivations,
            Rounding = baseOptions.Rounding,
            NonFinite = baseOptions.NonFinite,
            ExcludeNodes = [.. baseOptions.ExcludeNodes],
            Overrides = [.. baseOptions.Overrides],
        };
        foreach (var (node, choice) in choices.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            if (choice == PrecisionChoice.Float) options.ExcludeNodes.Add(node);
            else if (choice == PrecisionChoice.Int16) options.Overrides.Add(new QdqOverride { Nodes = node, ActivationType = QdqActivationType.Int16 });
            else if (choice == PrecisionChoice.Int8Clipped) options.Overrides.Add(new QdqOverride { Nodes = node, Method = CalibrationMethod.Percentile, Percentile = ClippedPercentile });
        }
        return options;
    }

    /// <summary>The recipe's bias-correction step after this one (null when there is none).</summary>
    private static PassStep? FollowingBiasCorrection(PassContext context) =>
        context.CurrentStep is { } step && context.GetAnalysis<StatisticsSchedule>() is { } schedule
            ? schedule.After(step).FirstOrDefault(p => p.Pass is BiasCorrectionPass)
            : null;

    private static List<HeldOutSample> LoadHeldOut(Model model, HeldOutSamples held, PassContext context)
    {
        var settings = context.GetAnalysis<CalibrationSettings>() ?? new CalibrationSettings();
        var heldSettings = settings with { Source = settings.Source with { Skip = held.Skip, Count = held.Count, BatchSize = 1, Shuffle = false } };
        var samples = new List<HeldOutSample>();
        using var source = heldSettings.OpenData(model, null);
        foreach (var batch in source.Batches()) samples.Add(new HeldOutSample(source.Order[batch.FirstSample], batch.Feeds));
        return samples;
    }

    /// <summary>One change the search measured: <see cref="Node"/> to <see cref="Option"/>, its score and gain over the model of <see cref="MeasuredAt"/>.</summary>
    private sealed class Trial(Node node, PrecisionChoice option, double local)
    {
        public Node Node { get; } = node;
        public PrecisionChoice Option { get; } = option;
        public double Local { get; set; } = local;
        public double Score { get; set; }
        public double Gain { get; set; }
        public int MeasuredAt { get; set; } = -1;
    }

    private static double Round(double x) => double.IsFinite(x) ? Math.Round(x, 4) : x;

    private static string F(double x) => double.IsPositiveInfinity(x) ? "inf" : x.ToString("F2", System.Globalization.CultureInfo.InvariantCulture);
}
