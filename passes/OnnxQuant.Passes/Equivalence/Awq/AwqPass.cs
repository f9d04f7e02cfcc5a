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

        var groups = new List<(SmoothQuantGroup Group, List<AwqLayer> Layers)>();
        foreach (var group in SmoothQuantGroup.Candidates(graph))
        {
            if (group.Refusal() is { } why) context.RecordMiss(Pattern, why, group.Layers.Count);
            else if (group.Activation.Name is null) context.RecordMiss(Pattern, "the activation has no name, so it cannot be calibrated", group.Layers.Count);
            else
            {
                var layers = group.Layers.Select(l => Describe(l, settings, head)).ToList();
                if (layers.All(l => l.Grid is null))
                    context.RecordMiss(Pattern, "no layer reading the activation is quantized by quantize-weights (an LM head kept float, an excluded node or op type)", layers.Count);
                else groups.Add((group, layers));
            }
        }
        if (groups.Count == 0) return PassResult.Unchanged;

        var requests = new StatisticsRequests();
        foreach (var (group, _) in groups)
        {
            requests.ChannelMeans(group.Activation);
            requests.SecondMoment(group.Activation);
        }
        var collecting = System.Diagnostics.Stopwatch.StartNew();
        var statistics = CalibratePass.Collect(model, requests, new RangeOptions(), context);
        context.Log($"{Name}: statistics collected in {collecting.Elapsed.TotalSeconds:0.0} s.");
        var searching = System.Diagnostics.Stopwatch.StartNew();

        // Every s from the original weights first (a layer may be both in a group and the producer another group's 1/s
        // folds into; row and column scalings commute), as smooth-quant plans.
        var plans = new List<(SmoothQuantGroup Group, float[] Scale, double[] H, bool Scaled)>();
        foreach (var (group, layers) in groups)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var x = group.Activation;
            if (!statistics.TryGetStatistics(x, out var s) || s.Channels is null || s.SecondMoment is null || s.SecondMoment.Rows == 0)
            {
                context.RecordMiss(Pattern, "no calibrated statistics for the activation (it was not computed on the data)", layers.Count);
                continue;
            }
            var meanAbs = statistics.ChannelMeanAbs(x);
            var (h, k, _) = statistics.SecondMoment(x);
            if (meanAbs.Length != group.K || k != group.K)
            {
                context.RecordMiss(Pattern, "the activation's last axis is not the layers' input channels", layers.Count);
                continue;
            }
            var (alpha, scale) = Search(h, meanAbs, layers, options.Grid);
            if (alpha == 0) context.Count("alpha-zero");
            context.Log($"{Name}: {x.Name}: α {alpha:0.###} for {layers.Count} layer(s).");
            plans.Add((group, scale, h, alpha != 0));
        }

        var rewriter = new Rewriter(graph);
        int changed = 0;
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
                changed += nodes.Count;
            }
            applied.Add((nodes, scale, h));
        }

        int clipped = 0;
        if (options.Clip)
        {
            // Last: every scaling of a weight (its rows by its own s, its columns by a later layer's 1/s) is done, and
            // clamping a block commutes with scaling its row, so this is what the quantizer will read.
            var ratios = AwqSearch.ClipRatios(options.MaxShrink);
            foreach (var (nodes, scale, h) in applied)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                var hScaled = ScaledSecondMoment(h, scale);
                foreach (var byWeight in ReRead(nodes).GroupBy(l => l.Weight))
                {
                    var first = byWeight.First();
                    var layer = Describe(first, settings, head);
                    if (layer.Grid is null) continue;
                    if (layer.Alpha != 1f)
                    {
                        context.Count("clip-skipped-alpha");
                        continue;
                    }
                    var rows = first.ReadRows();
                    int blocks = AwqSearch.Clip(rows, first.OutputChannels, first.K, layer.Grid, hScaled, ratios);
                    if (blocks == 0) continue;
                    LinearLayer.ReplaceWeight(rewriter, byWeight.ToList(), first.WeightFromRows(rows));
                    clipped += blocks;
                }
            }
        }
        context.Count("layers", changed);
        context.Count("clipped-blocks", clipped);
        context.Log($"{Name}: scale and clip search in {searching.Elapsed.TotalSeconds:0.0} s.");
        if (changed + clipped > 0)
            context.Log($"{Name}: scaled {changed} layers on {plans.Count(p => p.Scaled)} activations, clipped {clipped} blocks " +
                $"(searching int{settings.Bits} {(settings.BlockSize is { } b ? $"g{b}" : "per channel")} {(settings.Symmetric ? "symmetric" : "asymmetric")}).");
        return PassResult.From(changed + clipped > 0);
    }

    /// <summary>The α of the grid with the least output error (the first on ties), and its scales.</summary>
    private static (double Alpha, float[] Scale) Search(double[] h, double[] meanAbs, List<AwqLayer> layers, int grid)
    {
        double bestError = double.PositiveInfinity, bestAlpha = 0;
        float[] best = AwqSearch.Scales(meanAbs, 0);
        for (int i = 0; i < grid; i++)
        {
            double alpha = (double)i / grid;
            var s = AwqSearch.Scales(meanAbs, alpha);
            double error = AwqSearch.OutputError(h, layers, s);
            if (error < bestError) (bestError, bestAlpha, best) = (error, alpha, s);
        }
        return (bestAlpha, best);
    }

    /// <summary>XᵀX of X·diag(s)⁻¹: H_ij / (s_i·s_j).</summary>
    private static double[] ScaledSecondMoment(double[] h, float[] s)
    {
        int k = s.Length;
        var result = new double[h.Length];
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                result[(long)i * k + j] = h[(long)i * k + j] / ((double)s[i] * s[j]);
        return result;
    }

    private static List<LinearLayer> ReRead(List<Node> nodes) =>
        nodes.Select(n => LinearLayer.TryRead(n, out var l) is null ? l! : throw new InvalidOperationException($"{n} is no longer a linear layer.")).ToList();

    /// <summary>The layer with the grid quantize-weights will round it to (null when it stays float there).</summary>
    private static AwqLayer Describe(LinearLayer layer, WeightOnlySettings s, Node? head)
    {
        var node = layer.Node;
        int? bits = node == head ? s.HeadBits : s.Bits;
        bool quantized = bits is not null && s.OpTypes.Contains(node.OpType) && !NameGlob.AnyMatches(s.ExcludeNodes, node)
            && layer.WeightTensor.Rank == 2 && layer.WeightTensor.ElementType is DataType.Float or DataType.Float16;
        WeightGrid? grid = null;
        if (quantized)
        {
            // As WeightOnlyRewriter: per channel in the dq format is one block of exactly K.
            int block = s.PerChannel && s.Format == WeightOnlyFormat.Dq ? layer.K : s.BlockFor(layer.K);
            grid = new WeightGrid(bits!.Value, s.Symmetric ? WeightScaleRule.SignedExtreme : WeightScaleRule.Asymmetric, block, false, layer.WeightTensor.ElementType);
        }
        return new AwqLayer(layer, layer.ReadRows(), node.OpType == "Gemm" ? layer.Alpha : 1f, grid);
    }

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
