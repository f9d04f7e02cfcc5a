using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Passes.Quantization.Rounding;
using OnnxQuant.Passes.Quantization.WeightOnly;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Equivalence.Awq;

/// <summary>
/// AWQ (Lin et al. 2024, "AWQ: Activation-aware Weight Quantization for LLM Compression and Acceleration"): before
/// weight-only quantization, scale up the weight rows that meet large activations so that they lose less to rounding.
/// Identity (as <see cref="SmoothQuantPass"/>'s): y = x·B + b = (x·diag(s)⁻¹)·(diag(s)·B) + b for any positive s, exact in
/// real arithmetic; 1/s is folded into what produces x (LayerNorm γ and β, RMS norm γ, the previous linear layer's output
/// columns and bias, through SwiGLU's elementwise Mul into the up projection, or else an explicit Mul).
/// <para>
/// Search (ALGORITHMS.md §2): per activation X read by linear layers (all of them share one s, since X is divided once),
/// s_j = max(mean_tokens|X_j|, …)^α normalized by √(max s·min s), over α ∈ {0, 1/grid, …, (grid−1)/grid}; the α kept
/// minimizes Σ over the layers of ‖X·B − (X/s)·Q(diag(s)·B)‖² on the calibration tokens, with Q the rounding of the
/// following <c>quantize-weights</c> step (its bits, block size, symmetry, scale rule and scale type; the LM head's bits,
/// excluded nodes and op types as it treats them), evaluated from XᵀX (<see cref="AwqSearch"/>). Then the clip search:
/// each block of each quantized weight is clamped to ±r·max|w| for the ratio r ∈ {1, 0.95, …, 0.55} with the least
/// error on that block's slice of the output. The clipping is folded into the weights (the clamped values are written),
/// because round to nearest takes a block's range from its values: the quantizer then uses exactly the clipped range,
/// whichever rounding or format it exports, with no side channel to keep in sync. That changes the float model (only
/// where values exceed the clipped range); <c>clip: false</c> keeps the float model exact.
/// </para>
/// <para>
/// Statistics: per-channel mean |x| and XᵀX of every candidate activation, collected by the pass itself over
/// <c>--data</c> on the model as it is (<see cref="CalibratePass.Collect"/>), so it runs alone (<c>passes: [awq]</c>,
/// searching for w4a16's format unless options say otherwise) or before the calibrate step of a quantizing recipe.
/// </para>
/// <para>
/// Preconditions: a float model, MatMul (2-D constant weight) or Gemm (transA = 0) layers whose activation's channels are
/// its last axis. Does not fire on an activation (each reason counted in the pass's misses, pattern <c>awq</c>) when it
/// is a graph output or has a reader other than such a layer, when a weight is shared with a node outside the group,
/// when no layer reading it will be quantized (an LM head kept float, an excluded node or op type), when it has no
/// calibrated statistics, or when nothing absorbs 1/s and <c>explicit-mul</c> is off. When α = 0 (no scaling) has the
/// least error, the layers keep their scale (counted <c>alpha-zero</c>) and only the clip search runs. Clipping skips a
/// Gemm with alpha ≠ 1 (counted <c>clip-skipped-alpha</c>).
/// </para>
/// </summary>
public sealed class AwqPass : Pass<AwqOptions>
{
    public override string Name => "awq";

    public override string Summary => "AWQ: per-activation scale s = mean|x|^α (α searched on the following quantize-weights' grid, output MSE from XᵀX) folded like smooth-quant, then per-block clip search folded into the weights.";

    /// <summary>It collects its own statistics (it runs before the calibrate step that serves the quantizer); its edits change values.</summary>
    public override StatisticsUse Statistics => StatisticsUse.None;

    private const string Pattern = "awq";

    public override PassResult Run(Model model, AwqOptions options, PassContext context)
    {
        if (options.Grid is < 1 or > 1000) throw new OnnxQuantException($"{Name}: grid {options.Grid} must be 1..1000 (20: α = 0, 0.05, …, 0.95).");
        if (options.MaxShrink is < 0 or >= 1 || double.IsNaN(options.MaxShrink))
            throw new OnnxQuantException($"{Name}: max-shrink {options.MaxShrink} is outside [0, 1); use e.g. 'max-shrink: 0.5'.");
        var format = Format(options, context);
        var settings = WeightOnlySettings.From(format, Name);
        var graph = model.Graph;
        var head = QuantizeWeightsPass.FindHead(graph, settings.OpTypes);

        var groups = new List<(SmoothQuantGroup Group, List<WeightGrid?> Grids)>();
        foreach (var group in SmoothQuantGroup.Candidates(graph))
        {
            if (group.Refusal() is { } why) context.RecordMiss(Pattern, why, group.Layers.Count);
            else if (group.Activation.Name is null) context.RecordMiss(Pattern, "the activation has no name, so it cannot be calibrated", group.Layers.Count);
            else
            {
                var grids = group.Layers.Select(l => GridFor(l, settings, head)).ToList();
                if (grids.All(g => g is null))
                    context.RecordMiss(Pattern, "no layer reading the activation is quantized by quantize-weights (an LM head kept float, an excluded node or op type)", grids.Count);
                else groups.Add((group, grids));
            }
        }
        if (groups.Count == 0) return PassResult.Unchanged;

        var requests = new StatisticsRequests();
        foreach (var (group, _) in groups)
        {
            requests.ChannelMeans(group.Activation);
            requests.SecondMoment(group.Activation);
        }

        // Groups that edit a common node (a layer of one is the producer another's 1/s folds into: v and o, up and
        // down) are searched and rewritten together, as one unit; units are disjoint, so doing them one after another
        // is doing them all at once. On a block-wise calibration each unit runs as soon as the blocks holding its
        // nodes have run, and its statistics are dropped after it: memory is one block's, not the model's.
        var units = Units(groups.Select(g => g.Group).ToList());
        var done = new bool[units.Count];
        var ran = new HashSet<Node>();
        var statisticsOf = new Dictionary<Value, CalibrationResult>();
        var rewriter = new Rewriter(graph);
        var tally = new Tally();
        var clipRatios = AwqSearch.ClipRatios(options.MaxShrink);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var searching = new System.Diagnostics.Stopwatch();
        void RunUnit(int u, CalibrationResult? rest)
        {
            searching.Start();
            var members = units[u].Groups.Select(i => groups[i]).ToList();
            RewriteUnit(members, x => statisticsOf.Remove(x, out var r) ? r : rest, settings, head, options, clipRatios, rewriter, context, tally);
            done[u] = true;
            // On a model larger than memory, a unit leaves its XᵀX copies (up to K² doubles each) and weight rows as
            // large-object garbage, collected only in full GCs: as in quantize-weights, collect after each.
            if (model.Streams) GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            searching.Stop();
        }
        var remaining = CalibratePass.Collect(model, requests, new RangeOptions(), context, (block, statistics) =>
        {
            foreach (var (group, _) in groups)
                if (statistics.TryGetStatistics(group.Activation, out _)) statisticsOf[group.Activation] = statistics;
            ran.UnionWith(block.Nodes);
            for (int u = 0; u < units.Count; u++)
                if (!done[u] && units[u].Nodes.All(ran.Contains)) RunUnit(u, null);
        }, new CalibrateOptions { BlockWise = options.BlockWise, BlockMb = options.BlockMb });
        int streamed = done.Count(d => d);
        for (int u = 0; u < units.Count; u++)
            if (!done[u]) RunUnit(u, remaining);
        context.Log($"{Name}: statistics collected in {(clock.Elapsed - searching.Elapsed).TotalSeconds:0.0} s" +
            (streamed > 0 ? $", block by block ({streamed} of {units.Count} units searched as soon as their blocks had run)." : "."));
        context.Count("layers", tally.Changed);
        context.Count("clipped-blocks", tally.Clipped);
        context.Log($"{Name}: scale and clip search in {searching.Elapsed.TotalSeconds:0.0} s.");
        if (tally.Changed + tally.Clipped > 0)
            context.Log($"{Name}: scaled {tally.Changed} layers on {tally.ScaledActivations} activations, clipped {tally.Clipped} blocks " +
                $"(searching int{settings.Bits} {(settings.BlockSize is { } b ? $"g{b}" : "per channel")} {(settings.Symmetric ? "symmetric" : "asymmetric")}).");
        return PassResult.From(tally.Changed + tally.Clipped > 0);
    }

    private sealed class Tally
    {
        public int Changed, Clipped, ScaledActivations;
    }

    /// <summary>
    /// Searches, scales and clips one unit's groups (in graph order): every s from the weights as they were before
    /// the unit (a layer may be both in a group and the producer another group's 1/s folds into; row and column
    /// scalings commute), as smooth-quant plans; then the scalings; then the clip search, last.
    /// </summary>
    private void RewriteUnit(List<(SmoothQuantGroup Group, List<WeightGrid?> Grids)> members, Func<Value, CalibrationResult?> statisticsOf,
        WeightOnlySettings settings, Node? head, AwqOptions options, double[] clipRatios, Rewriter rewriter, PassContext context, Tally tally)
    {
        var plans = new List<(SmoothQuantGroup Group, float[] Scale, double[] H, bool Scaled)>();
        foreach (var (group, grids) in members)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var x = group.Activation;
            var statistics = statisticsOf(x);
            if (statistics is null || !statistics.TryGetStatistics(x, out var s) || s.Channels is null || s.SecondMoment is null || s.SecondMoment.Rows == 0)
            {
                context.RecordMiss(Pattern, "no calibrated statistics for the activation (it was not computed on the data)", group.Layers.Count);
                continue;
            }
            var meanAbs = statistics.ChannelMeanAbs(x);
            var (h, k, _) = statistics.SecondMoment(x);
            if (meanAbs.Length != group.K || k != group.K)
            {
                context.RecordMiss(Pattern, "the activation's last axis is not the layers' input channels", group.Layers.Count);
                continue;
            }
            // Rows are read here, one group at a time, and dropped after its search.
            var layers = group.Layers.Select((l, i) => Describe(l, grids[i])).ToList();
            var (alpha, scale) = Search(h, meanAbs, layers, options.Grid);
            if (alpha == 0) context.Count("alpha-zero");
            context.Log($"{Name}: {x.Name}: α {alpha:0.###} for {layers.Count} layer(s).");
            plans.Add((group, scale, h, alpha != 0));
        }

        var applied = new List<(List<Node> Nodes, float[] Scale, double[] H)>();
        foreach (var plan in plans)
        {
            var (group, scale, h, scaled) = plan;
            var x = group.Activation;
            var nodes = group.Layers.Select(l => l.Node).ToList();
            if (scaled)
            {
                var inverse = scale.Select(v => 1f / v).ToArray();
                if (SmoothQuantAbsorber.TryAbsorb(rewriter, x, inverse, throughMul: true) is { } how) context.Count(how);
                else if (options.ExplicitMul)
                {
                    var mul = new Node("Mul", [x, rewriter.AddWeight(Tensor.FromFloats(inverse, inverse.Length), $"{x.Name}_awq_inv")]);
                    mul.Outputs[0]!.Name = rewriter.FreshName($"{x.Name}_awq");
                    mul.Outputs[0]!.Type = x.Type;
                    rewriter.InsertAfterProducer(x, mul);
                    foreach (var node in nodes) rewriter.SetInput(node, 0, mul.Outputs[0]);
                    context.Count("mul");
                }
                else
                {
                    context.RecordMiss(Pattern, "nothing before the activation absorbs 1/s and explicit-mul is off", nodes.Count);
                    scale = [.. Enumerable.Repeat(1f, scale.Length)];
                    scaled = false;
                }
            }
            if (scaled)
            {
                foreach (var byWeight in ReRead(nodes).GroupBy(l => l.Weight))
                {
                    var first = byWeight.First();
                    var rows = first.ReadRows();
                    for (int n = 0; n < first.OutputChannels; n++)
                        for (int j = 0; j < first.K; j++)
                            rows[(long)n * first.K + j] *= scale[j];
                    LinearLayer.ReplaceWeight(rewriter, byWeight.ToList(), first.WeightFromRows(rows));
                }
                tally.Changed += nodes.Count;
                tally.ScaledActivations++;
            }
            applied.Add((nodes, scale, h));
        }

        if (!options.Clip) return;
        // Last: every scaling of a weight (its rows by its own s, its columns by a later layer's 1/s) is done, and
        // clamping a block commutes with scaling its row, so this is what the quantizer will read.
        foreach (var (nodes, scale, h) in applied)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var hScaled = ScaleSecondMoment(h, scale);
            foreach (var byWeight in ReRead(nodes).GroupBy(l => l.Weight))
            {
                var first = byWeight.First();
                if (GridFor(first, settings, head) is not { } grid) continue;
                if (first.Node.OpType == "Gemm" && first.Alpha != 1f)
                {
                    context.Count("clip-skipped-alpha");
                    continue;
                }
                var rows = first.ReadRows();
                int blocks = AwqSearch.Clip(rows, first.OutputChannels, first.K, grid, hScaled, clipRatios);
                if (blocks == 0) continue;
                LinearLayer.ReplaceWeight(rewriter, byWeight.ToList(), first.WeightFromRows(rows));
                tally.Clipped += blocks;
            }
        }
    }

    /// <summary>
    /// The units of work: groups joined when they edit a common node or weight (their layers, and what their 1/s
    /// would fold into, as <see cref="SmoothQuantAbsorber.TryAbsorb"/> looks for it), each with those nodes, in the
    /// order of their first group.
    /// </summary>
    private static List<(List<int> Groups, HashSet<Node> Nodes)> Units(List<SmoothQuantGroup> groups)
    {
        var parent = Enumerable.Range(0, groups.Count).ToArray();
        int Find(int i) => parent[i] == i ? i : parent[i] = Find(parent[i]);
        var owner = new Dictionary<object, int>();
        var touched = groups.Select(Touched).ToList();
        for (int g = 0; g < groups.Count; g++)
            foreach (var node in touched[g])
                foreach (object key in node.Inputs.Where(v => v is { IsConstant: true }).Cast<object>().Prepend(node))
                    if (owner.TryGetValue(key, out int other)) parent[Find(g)] = Find(other);
                    else owner[key] = g;
        return Enumerable.Range(0, groups.Count).GroupBy(Find).OrderBy(u => u.Min())
            .Select(u => (u.OrderBy(i => i).ToList(), u.SelectMany(i => touched[i]).ToHashSet())).ToList();
    }

    /// <summary>The nodes a group's rewrite may edit: its layers and the candidates of <see cref="SmoothQuantAbsorber.TryAbsorb"/>
    /// (with <c>throughMul</c>): the producer, a linear layer behind an Add, the linear layers behind a Mul's factors.</summary>
    private static List<Node> Touched(SmoothQuantGroup group)
    {
        var nodes = group.Layers.Select(l => l.Node).ToList();
        void AddWithLinearInputs(Node p)
        {
            nodes.Add(p);
            if (p.OpType == "Add")
                foreach (var v in p.Inputs)
                    if (v?.Producer is { OpType: "MatMul" } m) nodes.Add(m);
        }
        if (group.Activation.Producer is { } producer)
        {
            AddWithLinearInputs(producer);
            if (producer.OpType == "Mul")
                foreach (var factor in producer.Inputs)
                    if (factor?.Producer is { OpType: "MatMul" or "Gemm" or "Add" } p) AddWithLinearInputs(p);
        }
        return nodes;
    }

    /// <summary>The α of the grid with the least output error (the first on ties), and its scales.</summary>
    private static (double Alpha, float[] Scale) Search(double[] h, double[] meanAbs, List<AwqLayer> layers, int grid)
    {
        double bestError = double.PositiveInfinity, bestAlpha = 0;
        float[] best = AwqSearch.Scales(meanAbs, 0);
        var factor = LowRankSecondMoment.TryFactor(h, meanAbs.Length);
        for (int i = 0; i < grid; i++)
        {
            double alpha = (double)i / grid;
            var s = AwqSearch.Scales(meanAbs, alpha);
            double error = AwqSearch.OutputError(h, layers, s, factor);
            if (error < bestError) (bestError, bestAlpha, best) = (error, alpha, s);
        }
        return (bestAlpha, best);
    }

    /// <summary>XᵀX of X·diag(s)⁻¹: H_ij / (s_i·s_j), in place (<paramref name="h"/> is this group's own copy, not
    /// needed after its clip search; a second K×K matrix would be 382 MB at K = 6912).</summary>
    private static double[] ScaleSecondMoment(double[] h, float[] s)
    {
        int k = s.Length;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                h[(long)i * k + j] /= (double)s[i] * s[j];
        return h;
    }

    private static List<LinearLayer> ReRead(List<Node> nodes) =>
        nodes.Select(n => LinearLayer.TryRead(n, out var l) is null ? l! : throw new InvalidOperationException($"{n} is no longer a linear layer.")).ToList();

    /// <summary>The grid quantize-weights will round the layer's weight to (null when it stays float there).</summary>
    private static WeightGrid? GridFor(LinearLayer layer, WeightOnlySettings s, Node? head)
    {
        var node = layer.Node;
        int? bits = node == head ? s.HeadBits : s.Bits;
        bool quantized = bits is not null && s.OpTypes.Contains(node.OpType) && !NameGlob.AnyMatches(s.ExcludeNodes, node)
            && layer.WeightTensor.Rank == 2 && layer.WeightTensor.ElementType is DataType.Float or DataType.Float16;
        if (!quantized) return null;
        // As WeightOnlyRewriter: per channel in the dq format is one block of exactly K.
        int block = s.PerChannel && s.Format == WeightOnlyFormat.Dq ? layer.K : s.BlockFor(layer.K);
        return new WeightGrid(bits!.Value, s.Symmetric ? WeightScaleRule.SignedExtreme : WeightScaleRule.Asymmetric, block, false, layer.WeightTensor.ElementType);
    }

    /// <summary>The layer as the search sees it; its rows are read only when it is quantized (a float layer only takes s).</summary>
    private static AwqLayer Describe(LinearLayer layer, WeightGrid? grid) =>
        new(layer, grid is null ? [] : layer.ReadRows(), layer.Node.OpType == "Gemm" ? layer.Alpha : 1f, grid);

    /// <summary>
    /// The quantize-weights options searched for: the first quantize-weights step after this one in the pipeline (none:
    /// w4a16's, int4 g32 symmetric with the LM head float), with this pass's bits, block-size and symmetric on top.
    /// </summary>
    private QuantizeWeightsOptions Format(AwqOptions options, PassContext context)
    {
        var following = context.CurrentStep is { } step && context.GetAnalysis<StatisticsSchedule>() is { } schedule
            ? schedule.After(step).FirstOrDefault(p => p.Pass is QuantizeWeightsPass)?.Options as QuantizeWeightsOptions
            : null;
        var o = following ?? new QuantizeWeightsOptions { Bits = 4, BlockSize = "32", Symmetric = true, LmHead = "float" };
        var format = new QuantizeWeightsOptions
        {
            Bits = options.Bits ?? o.Bits,
            BlockSize = options.BlockSize ?? o.BlockSize,
            Symmetric = options.Symmetric ?? o.Symmetric,
            Format = o.Format,
            AccuracyLevel = o.AccuracyLevel,
            OpTypes = o.OpTypes,
            ExcludeNodes = o.ExcludeNodes,
            LmHead = o.LmHead,
            Embedding = o.Embedding,
        };
        if (following is not null && (format.Bits != following.Bits || format.BlockSize != following.BlockSize || format.Symmetric != following.Symmetric))
            context.Log($"{Name}: warning: searching for int{format.Bits} block {format.BlockSize} {(format.Symmetric ? "symmetric" : "asymmetric")}, " +
                $"not the following quantize-weights' int{following.Bits} block {following.BlockSize} {(following.Symmetric ? "symmetric" : "asymmetric")}.");
        return format;
    }
}
