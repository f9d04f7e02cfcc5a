using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Rewriting;
using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Passes.Quantization.Repq;

/// <summary>
/// RepQ-ViT (Li et al., "RepQ-ViT: Scale Reparameterization for Post-Training Quantization of Vision Transformers",
/// ICCV 2023; ALGORITHMS.md §1.3–1.4). Two edits, both decided on the pass's own calibration over <c>--data</c>:
/// <list type="bullet">
/// <item><b>Post-LayerNorm reparameterization (exact).</b> A LayerNormalization output X = γ⊙x̂ + β read only by linear
/// layers (fused qkv, separate q/k/v, fc1, the head through a Gather of the class token; <see cref="RepqGroup"/>) gets per-channel (s_c, z_c) from RepQ's percentile-candidate MSE search on
/// each channel's histogram (quantiles 0.999, 0.9999, 0.99999 and the full range). With s̃ = mean s_c, z̃ =
/// round(mean z_c), r₁ = s/s̃ and r₂ = z − z̃: γ′ = γ/r₁, β′ = (β + s⊙r₂)/r₁, every reader's weight rows B′[c,:] =
/// r₁_c·B[c,:] and bias b′ = b − Σ_c s_c·r₂_c·B[c,:]. Then X′/s̃ + z̃ = X/s + z, so the per-tensor quantizer (s̃, z̃)
/// gives the channel-wise codes, and the float model computes the same function. (s̃, z̃) are pinned
/// (<see cref="PinnedActivations"/>) for the insert-qdq step, which must quantize X′ to <c>bits</c>.</item>
/// <item><b>log√2 quantizer on attention probabilities.</b> A Softmax output read only as the first input of MatMuls
/// is replaced by its log√2 fake quantization (<see cref="Log2Quantizer"/>, scale by the same percentile-candidate MSE
/// search), written as standard float ops (Gather/LessOrEqual/Where, b + 1 binary-search steps, then a table Gather),
/// which reproduce the quantizer's codes exactly; the output is marked as quantized, so insert-qdq quantizes only V.</item>
/// </list>
/// Preconditions: a float32 model whose activations' channels are the last axis; run <c>calibrate</c> after this pass
/// (the edits change the post-LayerNorm tensors and the weights insert-qdq quantizes). Does not fire (reasons in the
/// misses, pattern <c>repq</c>) on: a LayerNorm output with a reader other than a MatMul/Gemm with a constant weight, a
/// weight shared outside the group, a LayerNorm without constant γ/β channel vectors or not over the last axis, a
/// channel count that disagrees with the weights, no statistics; a Softmax not over the last axis, with a reader other
/// than MatMul input 0, or never observed.
/// </summary>
public sealed class RepqVitPass : Pass<RepqVitOptions>
{
    /// <summary>RepQ-ViT's candidate quantiles (§1.2); the full range is a candidate too.</summary>
    public static IReadOnlyList<double> CandidateFractions { get; } = [0.999, 0.9999, 0.99999];

    private const string Pattern = "repq";

    public override string Name => "repq-vit";

    public override string Summary => "RepQ-ViT: post-LayerNorm per-channel quantizers reparameterized exactly to per-tensor (into γ/β and the next layers), log√2 quantizer on attention Softmax as float ops.";

    /// <summary>It collects its own statistics; its edits change values, so a calibrate step follows it.</summary>
    public override StatisticsUse Statistics => StatisticsUse.None;

    public override PassResult Run(Model model, RepqVitOptions options, PassContext context)
    {
        if (options.Bits is < 2 or > 8) throw new OnnxQuantException($"{Name}: bits is {options.Bits}; use 2..8 (the post-LayerNorm activations are uint8 with that many bits of codes).");
        if (options.SoftmaxBits is not 0 and (< 2 or > 8)) throw new OnnxQuantException($"{Name}: softmax-bits is {options.SoftmaxBits}; use 2..8, or 0 to leave Softmax outputs float.");
        var graph = model.Graph;
        bool qkEdits = options.QkBalance || options.CenterKeys || options.HeadRotation;
        var qkPairs = qkEdits ? QkBalance.Find(graph, why => context.RecordMiss(Pattern, why)) : [];
        // Rotations first, on the float model as it is: the statistics below (q/k channel ranges) are then those of
        // the rotated channels, which balancing and centering act on; the LayerNorm groups are read after them.
        var rewriter = new Rewriter(graph);
        int rotatedScores = 0, rotatedValues = 0;
        if (options.HeadRotation)
        {
            rotatedScores = HeadRotation.RotateScores(rewriter, qkPairs, context.Seed, why => context.RecordMiss(Pattern, why));
            rotatedValues = HeadRotation.RotateValues(rewriter, model, context.Seed, why => context.RecordMiss(Pattern, why));
        }
        var groups = new List<RepqGroup>();
        foreach (var group in RepqGroup.Of(graph))
        {
            if ((group.Refusal ?? LayerNormRefusal(group.LayerNorm, group)) is { } why) context.RecordMiss(Pattern, why, group.Layers.Count);
            else if (group.Activation.Name is null) context.RecordMiss(Pattern, "the LayerNorm output has no name, so it cannot be calibrated");
            else groups.Add(group);
        }
        var softmaxes = new List<Node>();
        if (options.SoftmaxBits > 0)
            foreach (var node in graph.Nodes)
            {
                if (node.OpType != "Softmax" || !node.IsDefaultDomain || node.Outputs[0] is not { } a) continue;
                if (SoftmaxRefusal(node, a, model) is { } why) context.RecordMiss(Pattern, why);
                else softmaxes.Add(node);
            }
        if (groups.Count == 0 && softmaxes.Count == 0 && qkPairs.Count == 0 && rotatedValues == 0 && !options.QkRangeSearch) return PassResult.Unchanged;
        var centered = new List<QkBalance.Pair>();
        if (options.CenterKeys)
            foreach (var pair in qkPairs)
            {
                if (KeyCentering.Refusal(pair.Scores) is { } why) context.RecordMiss(Pattern, why);
                else centered.Add(pair);
            }

        var requests = new StatisticsRequests();
        foreach (var group in groups) requests.ChannelHistograms(group.Activation);
        foreach (var softmax in softmaxes) requests.Histogram(softmax.Output, HistogramKind.Signed);
        if (options.QkBalance || options.CenterKeys)
            foreach (var pair in qkPairs)
            {
                requests.ChannelAbsMax(pair.Q.Channels);
                requests.ChannelAbsMax(pair.K.Channels);
            }
        var statistics = requests.Count > 0 ? CalibratePass.Collect(model, requests, new RangeOptions(), context) : null;

        var pinned = PinnedActivations.Of(context);
        var target = new QuantTarget(DataType.UInt8, emulatedBits: options.Bits < 8 ? options.Bits : null);
        int reparameterized = 0, log2 = 0;
        foreach (var group in groups)
        {
            if (!statistics!.TryGetStatistics(group.Activation, out var s) || s.Channels?.Histograms is not { } histograms || histograms.Length != group.K)
            {
                context.RecordMiss(Pattern, "no per-channel statistics of the LayerNorm output (not computed on the data, or its last axis is not the layers' input)", group.Layers.Count);
                continue;
            }
            var plan = ReparameterizationPlan.From(histograms, target, CandidateFractions);
            Apply(rewriter, group, plan);
            var pin = new PinnedActivations.Pin(plan.Scale, plan.ZeroPoint, target.Bits);
            pinned.SetPin(group.Activation, pin);
            foreach (var gathered in group.Gathered) pinned.SetPin(gathered, pin);
            context.Log($"{Name}: {group.Activation}: {group.K} channel scales in [{plan.ChannelScales.Min():G4}, {plan.ChannelScales.Max():G4}] → one scale {plan.Scale:G6}, zero point {plan.ZeroPoint} ({group.Layers.Count} layer(s)).");
            reparameterized++;
        }
        int balanced = 0, keysCentered = 0;
        foreach (var pair in options.QkBalance || options.CenterKeys ? qkPairs : [])
        {
            // After the post-LayerNorm reparameterization, which may have given the projection a bias Add: found again.
            if (!statistics!.TryGetStatistics(pair.Q.Channels, out var sq) || sq.Channels is not { } cq
                || !statistics.TryGetStatistics(pair.K.Channels, out var sk) || sk.Channels is not { } ck
                || cq.AbsMax() is not { } qMax || ck.AbsMax() is not { } kMax || qMax.Length != pair.Q.Width || kMax.Length != pair.K.Width)
            {
                context.RecordMiss(Pattern, "qk-balance/center-keys: no per-channel statistics of q or k");
                continue;
            }
            if (centered.Contains(pair))
            {
                double[] kMin = Array.ConvertAll(ck.MinMax, m => m.Min), kHigh = Array.ConvertAll(ck.MinMax, m => m.Max);
                var centers = KeyCentering.Centers(kMin, kHigh);
                if (KeyCentering.Apply(rewriter, pair.K, centers))
                {
                    keysCentered++;
                    // The centered channel's largest magnitude is half its range.
                    for (int c = 0; c < kMax.Length; c++) kMax[c] = double.IsFinite(kMin[c]) && double.IsFinite(kHigh[c]) ? (kHigh[c] - kMin[c]) / 2 : kMax[c];
                }
                else context.RecordMiss(Pattern, "center-keys: the k projection changed form");
            }
            if (!options.QkBalance) continue;
            if (QkBalance.Apply(rewriter, pair, QkBalance.Factors(qMax, kMax))) balanced++;
            else context.RecordMiss(Pattern, "qk-balance: the q or k projection changed form");
        }
        foreach (var softmax in softmaxes)
        {
            if (!statistics!.TryGetStatistics(softmax.Output, out var s) || s.Histogram is not { IsEmpty: false } h
                || Log2Quantizer.Search(h, options.SoftmaxBits, CandidateFractions) is not { } quantizer)
            {
                context.RecordMiss(Pattern, "the Softmax output was never observed (or was 0 everywhere) in calibration");
                continue;
            }
            pinned.MarkQuantized(Log2Export.Insert(rewriter, softmax.Output, quantizer));
            log2++;
        }
        int searched = 0;
        var scores = options.QkRangeSearch ? QkRangeSearch.ScoresMatMuls(graph, pinned) : [];
        if (scores.Count > 0)
        {
            // On the model after every edit above: q and k as insert-qdq will quantize them (the scores MatMul's inputs).
            foreach (var choice in QkRangeSearch.Search(model, scores, target, context))
            {
                if (choice.Refusal is { } why || choice.Q is not { } qp || choice.K is not { } kp)
                {
                    context.RecordMiss(Pattern, choice.Refusal ?? "qk-range-search: no choice");
                    continue;
                }
                pinned.SetPin(choice.Scores.Inputs[0]!, new PinnedActivations.Pin(qp.Scale, (int)qp.ZeroPoint, target.Bits));
                pinned.SetPin(choice.Scores.Inputs[1]!, new PinnedActivations.Pin(kp.Scale, (int)kp.ZeroPoint, target.Bits));
                double gain = choice.SearchedError > 0 ? 10 * Math.Log10(choice.OwnError / choice.SearchedError) : 0;
                context.Log($"{Name}: {choice.Scores}: q {qp}, k {kp}; q·kᵀ squared error {choice.SearchedError:G4} against {choice.OwnError:G4} with each tensor's own best range ({gain:F2} dB).");
                searched++;
            }
        }
        context.Count("layer-norms", reparameterized);
        context.Count("log2-softmax", log2);
        if (options.QkBalance) context.Count("qk-balanced", balanced);
        if (options.CenterKeys) context.Count("keys-centered", keysCentered);
        if (options.HeadRotation)
        {
            context.Count("heads-rotated-qk", rotatedScores);
            context.Count("heads-rotated-v", rotatedValues);
        }
        if (options.QkRangeSearch) context.Count("qk-range-searched", searched);
        return reparameterized + log2 + balanced + keysCentered + rotatedScores + rotatedValues + searched > 0 ? PassResult.Changed : PassResult.Unchanged;
    }

    /// <summary>γ′, β′ on the LayerNorm; r₁ into every reader's weight rows and the bias correction into its bias.</summary>
    private static void Apply(Rewriter rewriter, RepqGroup group, ReparameterizationPlan plan)
    {
        var ln = group.Activation.Producer!;
        int k = group.K;
        var gamma = ln.Input(1)!.Const!;
        var beta = ln.Input(2)!.Const!;
        float[] g = gamma.ToFloatArray(), b = beta.ToFloatArray();
        var g2 = new float[k];
        var b2 = new float[k];
        for (int c = 0; c < k; c++)
        {
            double r1 = plan.R1[c];
            g2[c] = (float)(g[c] / r1);
            b2[c] = (float)((b[c] + (double)plan.ChannelScales[c] * plan.R2[c]) / r1);
        }
        rewriter.ReplaceInput(ln, 1, rewriter.AddConstant(TensorConversions.FromFloats(gamma.ElementType, g2, gamma.Dims.ToArray()), ln.Input(1)!.Name));
        rewriter.ReplaceInput(ln, 2, rewriter.AddConstant(TensorConversions.FromFloats(beta.ElementType, b2, beta.Dims.ToArray()), ln.Input(2)!.Name));

        foreach (var byWeight in group.Layers.GroupBy(l => l.Weight))
        {
            var first = byWeight.First();
            var rows = first.ReadRows();
            int n = first.OutputChannels;
            var correction = new double[n];
            for (int o = 0; o < n; o++)
                for (int c = 0; c < k; c++)
                {
                    long i = (long)o * k + c;
                    correction[o] += plan.ChannelScales[c] * (double)plan.R2[c] * rows[i];
                    rows[i] = (float)(rows[i] * plan.R1[c]);
                }
            LinearLayer.ReplaceWeight(rewriter, byWeight.ToList(), first.WeightFromRows(rows));
            if (correction.Any(v => v != 0))
                foreach (var layer in byWeight)
                    BiasEdit.Subtract(rewriter, layer.Node, correction);
        }
    }

    private static string? LayerNormRefusal(Node ln, RepqGroup group)
    {
        if (ln.Outputs[0] != group.Activation) return "the activation is not the LayerNorm's normalized output";
        if (ln.GetInt("axis", -1) is var axis && axis != -1 && !(group.Activation.Shape is { } shape && axis == shape.Rank - 1))
            return "the LayerNorm does not normalize the last axis";
        if (!IsChannelVector(ln.Input(1), group.K) || !IsChannelVector(ln.Input(2), group.K))
            return "the LayerNorm has no constant γ and β with one value per channel";
        if (group.Layers.Any(l => l.Node.OpType == "Gemm" && l.Bias is { } c && !(c.Const is { } t && t.ElementCount == l.N)))
            return "a Gemm's bias is not a constant vector";
        return null;
    }

    private static string? SoftmaxRefusal(Node softmax, Value a, Model model)
    {
        if (a.IsAnyGraphOutput || a.Uses.Count == 0) return "the Softmax output is a graph output or unused";
        if (a.Uses.Any(u => u.Node.OpType != "MatMul" || u.InputIndex != 0 || u.Node.Graph != model.Graph))
            return "the Softmax output has a reader other than the first input of a MatMul";
        if (softmax.GetInt("axis", -1) is var axis && axis != -1 && !(a.Shape is { } s && axis == s.Rank - 1))
            return "the Softmax is not over the last axis";
        if (a.ElementType is { } t && t != DataType.Float) return "the Softmax output is not float32";
        return null;
    }

    private static bool IsChannelVector(Value? value, int k) =>
        value?.Const is { ElementType: DataType.Float } t && t.Rank >= 1 && t.Dims[^1] == k && t.Dims.Take(t.Rank - 1).All(d => d == 1);
}
