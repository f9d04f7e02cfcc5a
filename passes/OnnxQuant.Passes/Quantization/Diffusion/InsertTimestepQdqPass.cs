using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Quantization.Diffusion;

/// <summary>
/// Static int8 activation ranges per timestep group, inside one standard-ONNX denoiser (Q-Diffusion's time-step-aware
/// calibration, TFMQ-DM's observation that activation ranges move with t). The group is computed from the timestep
/// input in the graph and selects each activation's scale and zero point from a constant table:
/// <code>
/// g   = Clip(Div(Cast&lt;int64&gt;(Gather(t, 0)), w), 0, G − 1)          (once per model)
/// s_x = Gather(scales_x[G], g);  z_x = Gather(zero_points_x[G], g)
/// y   = Mul(Cast&lt;float&gt;(MatMulInteger(QuantizeLinear(x, s_x, z_x), W_q, z_x, 0)), Mul(s_x, s_w)) [+ bias]
/// </code>
/// Inputs and outputs are the float model's, so any sampler runs it unchanged. ORT fusion, measured (ORT 1.32 CPU,
/// <c>TimestepQdqTests</c>): a scale gathered by a computed index does not stop ORT's integer kernels: QDQ MatMuls
/// fuse into MatMulIntegerToFloat (float output) or QLinearMatMul (quantized output) as with constant scales, and this
/// MatMulInteger → Cast → Mul form (the one insert-dynamic-qdq writes, QuantizeLinear in place of
/// DynamicQuantizeLinear) fuses into MatMulIntegerToFloat, which takes the activation scale as a run-time input. The
/// MatMulInteger form is chosen because it is the dynamic form with one op swapped: the two can be mixed per layer
/// and compared at equal kernels.
/// <para>
/// Ranges are min/max per group over the calibration data (<see cref="TimestepRanges"/>; give
/// <c>--data sampler:FILE</c>), uint8 asymmetric as DynamicQuantizeLinear computes them
/// (s = (max(hi,0) − min(lo,0))/255, z = round(−min(lo,0)/s)); a group no calibration batch fell in takes the range
/// over all groups. Weights: int8 symmetric per output column, as insert-dynamic-qdq. The pass collects its own
/// ranges (no calibrate step needed). Preconditions: a float model or one holding only insert-dynamic-qdq's ops (so a
/// recipe can quantize some layers dynamically first), opset ≥ 13, a timestep input. Does not fire on: nodes inside
/// subgraphs, excluded nodes (names, or structure: <see cref="DenoiserStructure"/>), the cases insert-dynamic-qdq
/// skips. A batch whose rows have different timesteps uses its first row's group.
/// </para>
/// </summary>
public sealed class InsertTimestepQdqPass : Pass<InsertTimestepQdqOptions>
{
    public override string Name => "insert-timestep-qdq";

    public override string Summary => "Static int8 activation ranges per timestep group, selected from the timestep input inside the model (MatMulInteger form ORT fuses).";

    public override IReadOnlyList<string> Provides => ["qdq"];

    public override PassResult Run(Model model, InsertTimestepQdqOptions options, PassContext context)
    {
        FloatModelPrecondition.Check(model, Name, 13, "QuantizeLinear with a computed scale and Clip of int64 need", allowDynamic: true);
        if (options.Groups < 1) throw new OnnxQuantException($"{Name}: groups must be at least 1 (got {options.Groups}).");
        if (options.NumTrainTimesteps < options.Groups)
            throw new OnnxQuantException($"{Name}: num-train-timesteps ({options.NumTrainTimesteps}) must be at least groups ({options.Groups}).");
        var t = model.Graph.Inputs.FirstOrDefault(v => v.Name == options.TimestepInput)
            ?? throw new OnnxQuantException($"{Name}: the model has no input '{options.TimestepInput}' (inputs: "
                + $"{string.Join(", ", model.Graph.Inputs.Select(v => v.Name))}); set timestep-input to the timestep's name.");
        var unknown = options.OpTypes.Except(InsertDynamicQdqPass.DefaultOpTypes).ToList();
        if (unknown.Count > 0) throw new OnnxQuantException($"{Name}: cannot quantize {string.Join(", ", unknown)}; op-types takes MatMul and Gemm.");
        var ops = new HashSet<string>(options.OpTypes.Count > 0 ? options.OpTypes : InsertDynamicQdqPass.DefaultOpTypes, StringComparer.Ordinal);
        var excluded = options.ExcludeNodes.Select(NameGlob.Compile).ToList();
        var structural = StructuralExclusions.Of(model.Graph, options.ExcludeConditioningPath, options.ExcludeOutputLayers);

        var candidates = QuantizationCandidates.Of(model, ops, excluded, context, Name)
            .Where(n => !StructuralExclusions.Skip(structural, n, context, Name)).ToList();
        var activations = candidates.Where(n => n.Inputs.Count > 1 && n.Inputs[1] is { IsConstant: true }).Select(n => n.Inputs[0]).OfType<Value>()
            .Where(v => !v.IsConstant && v.Name is not null && v.ElementType is null or DataType.Float)
            .Distinct().Select(v => v.Name!).ToList();
        if (activations.Count == 0) return PassResult.Unchanged;

        var groups = new TimestepGroups(options.Groups, options.NumTrainTimesteps);
        var settings = context.GetAnalysis<CalibrationSettings>() ?? new CalibrationSettings();
        TimestepRanges ranges;
        using (var data = settings.OpenData(model, null))
        {
            ranges = TimestepRanges.Collect(model, data, options.TimestepInput, groups, activations, context.Runner, context.Cancellation);
            context.Log($"{Name}: ranges of {activations.Count} activations in {groups.Count} timestep groups of width {groups.Width} "
                + $"over {data.Description} (batches per group: {string.Join(", ", ranges.Batches)}).");
        }
        int empty = ranges.Batches.Count(b => b == 0);
        if (empty == groups.Count) throw new OnnxQuantException($"{Name}: the calibration data gave no batch; give --data sampler:FILE.");
        if (empty > 0)
        {
            context.Count("empty-groups", empty);
            context.Log($"{Name}: {empty} timestep groups had no calibration batch; they use the range over all groups.");
        }

        var selector = new TimestepScaleSelector(model.Graph, t, groups, ranges);
        var rewriter = new DynamicQdqRewriter(model.Graph, options.WeightGranularity == QdqWeightGranularity.PerChannel, context, Name,
            Rounding.WeightRounders.For(Rounding.WeightRounding.Rtn), selector.Quantize);
        int done = 0;
        foreach (var node in candidates)
            if (rewriter.TryQuantize(node)) done++;
        if (done > 0)
        {
            context.Count("quantized", done);
            context.Count("groups", groups.Count);
        }
        return PassResult.From(done > 0);
    }
}
