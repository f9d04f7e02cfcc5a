using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Quantization.Rounding;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// The edits of <see cref="InsertQdqPass"/> on one graph: one Q/DQ pair per activation tensor (cached, so a tensor
/// read by several quantized nodes is quantized once), one int8 constant + DequantizeLinear per (weight, axis).
/// Q and DQ are inserted right after the producer of the tensor, so the graph stays in topological order. Weights are
/// read through <see cref="LinearLayer"/> and rounded by the recipe's <see cref="IWeightRounder"/>; every edit goes
/// through the <see cref="Rewriter"/>.
/// </summary>
internal sealed class QdqInserter
{
    /// <summary>One activation quantizer: <see cref="Bits"/> set when fewer codes than <see cref="Type"/> holds are
    /// used (a Clip to [(qmin − z)·s, (qmax − z)·s] goes before the QuantizeLinear).</summary>
    internal readonly record struct ActivationParams(float Scale, int ZeroPoint, DataType Type, int? Bits = null, bool Symmetric = false);
    private readonly record struct QuantizedWeight(Value Dequantized, float[] Scales);

    // Ops whose outputs lie within their first input's range (they select, move or, for Resize, interpolate values):
    // one scale on both sides loses nothing, and ORT then drops the Q/DQ pair (its DropQDQNodes rules; Gather and
    // Resize are checked by the fusion audit in QdqActivationOpTests).
    private static readonly HashSet<string> PassThroughOps = new(StringComparer.Ordinal)
        { "MaxPool", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Gather", "Resize" };

    private readonly Graph _graph;
    private readonly Rewriter _rewriter;

    /// <summary>The rewriter every edit of this pass goes through (shared with <see cref="QdqActivationOpInserter"/>).</summary>
    internal Rewriter Rewriter => _rewriter;
    private readonly IWeightRounder _rounder;
    private readonly IActivationRanges _ranges;
    private readonly PassContext _context;
    private readonly long _opset;
    private readonly string _pass;
    private readonly QdqParameterResolver _resolve;
    private readonly DataType? _modelFloatType;
    private readonly Dictionary<Value, (Value Dq, ActivationParams P)> _activations = [];
    private readonly Dictionary<(Value, int), QuantizedWeight> _weights = [];
    private readonly PinnedActivations? _pinned;
    private readonly int _weightBits;
    private Float8ScaleRule _float8Scale;

    /// <summary>True with <c>weights: float</c>: constant weights and biases are left as they are.</summary>
    internal bool FloatWeights { get; init; }

    /// <summary>Set with <c>weight-clip-search</c>: weight scales come from <see cref="WeightClipSearch"/>, with the
    /// Hessian this returns for a layer (null: weight MSE).</summary>
    internal Func<LinearLayer, double[]?>? ClipSearchHessian { get; init; }

    /// <summary>How float8 activation scales are chosen (<see cref="InsertQdqOptions.Float8Scale"/>).</summary>
    internal Float8ScaleRule Float8Scale { set => _float8Scale = value; }

    public QdqInserter(Graph graph, IActivationRanges ranges, QdqParameterResolver resolve, PassContext context, long opset, string pass,
        IWeightRounder rounder, PinnedActivations? pinned = null, int weightBits = 8)
    {
        _pinned = pinned;
        _weightBits = weightBits;
        _graph = graph;
        _rewriter = new Rewriter(graph);
        _rounder = rounder;
        _ranges = ranges;
        _context = context;
        _opset = opset;
        _pass = pass;
        _resolve = resolve;
        _modelFloatType = graph.Inputs.Select(v => v.ElementType).Concat(graph.Constants.Select(c => c.ElementType))
            .FirstOrDefault(t => t is DataType.Float or DataType.Float16);
    }

    /// <summary>Quantizes the inputs (and for Conv the output) of <paramref name="node"/>; false, counted and logged, when it cannot.</summary>
    public bool TryQuantize(Node node)
    {
        string? why = Plan(node, out var plan);
        if (why is not null)
        {
            StaysFloat.Report(_context, _pass, "quantize", node, why, StaysFloat.CounterFor(why));
            return false;
        }
        var p = plan!;
        if (p.FloatType == DataType.Float16 && _opset < InsertQdqPass.RequiredOpsetFloat16)
            throw new OnnxQuantException(
                $"{_pass}: {node} is float16; float16 scales need opset >= {InsertQdqPass.RequiredOpsetFloat16}, the model has {_opset}. " +
                $"Run 'upgrade-opset' (target-opset: {InsertQdqPass.RequiredOpsetFloat16} or later) before '{_pass}'.");
        // ORT's CPU QDQ fusions take float32 only: a float16 node keeps its DequantizeLinear (smaller, not faster).
        if (p.FloatType == DataType.Float16) _context.Count("float16-unfused");

        var x = QuantizeActivation(node.Inputs[0]!, p.FloatType)!.Value;
        _rewriter.ReplaceInput(node, 0, x.Dq);
        if (p.WeightIsActivation)
        {
            _rewriter.ReplaceInput(node, 1, QuantizeActivation(node.Inputs[1]!, p.FloatType)!.Value.Dq);
        }
        else if (FloatWeights)
        {
            _context.Count("float-weights");
        }
        else
        {
            float[] biasData = p.Bias?.Const!.ToFloatArray() ?? [];
            var w = QuantizeWeight(node.Inputs[1]!, p.Axis, p.FloatType, p.Layer,
                p.Bias is null ? null : scales => WidenForBias(node, biasData, x.P.Scale, scales, p.FloatType));
            _rewriter.ReplaceInput(node, 1, w.Dequantized);
            if (p.Bias is { } bias) _rewriter.ReplaceInput(node, 2, QuantizeBias(node, bias, biasData, x.P.Scale, w.Scales, p.FloatType));
        }
        // QLinearConv needs a Q on the output.
        if (node.OpType is "Conv" or "ConvTranspose") QuantizeOutput(node, p.FloatType);
        return true;
    }

    /// <summary>
    /// Q/DQ on the output of <paramref name="node"/>, or after a lone Relu that reads it, with the Relu's range (zero
    /// point = qmin), so that ORT removes the Relu (ReluQuantFusion) and the Q follows the op, as QLinear* needs.
    /// False (counted as output-no-range) when the tensor has no calibrated range.
    /// </summary>
    internal bool QuantizeOutput(Node node, DataType floatType)
    {
        if (QuantizeActivation(OutputToQuantize(node.Output), floatType) is not null) return true;
        _context.Count("output-no-range");
        return false;
    }

    /// <summary>The float type of activation <paramref name="x"/>: its own, else the model's (values often carry no type).</summary>
    internal DataType? FloatTypeOf(Value x) => x.ElementType ?? _modelFloatType;

    private sealed record NodePlan(DataType FloatType, int Axis, bool WeightIsActivation, Value? Bias, LinearLayer? Layer);

    /// <summary>Null when <paramref name="node"/> can be quantized (with <paramref name="plan"/>), else why not.</summary>
    private string? Plan(Node node, out NodePlan? plan)
    {
        plan = null;
        if (node.Inputs.Count < 2 || node.Inputs[0] is not { } x || node.Inputs[1] is not { } w) return "it lacks an input";
        if (x.IsConstant) return "its first input is a constant";
        var wTensor = w.Const;
        // Intermediate values often carry no type (no shape inference): then the model's float type decides.
        DataType? floatType = wTensor?.ElementType ?? x.ElementType ?? w.ElementType ?? _modelFloatType;
        if (floatType is not (DataType.Float or DataType.Float16)) return $"its element type is {floatType?.OnnxName() ?? "unknown"}, not float or float16";
        foreach (var ranged in RangedInputs(node))
            if (!HasChainRange(ranged)) return $"no calibrated range for {ranged}";
        bool weightIsActivation = wTensor is null;
        if (weightIsActivation)
        {
            if (node.OpType is not ("MatMul" or "Gemm")) return $"its weight {w} is not a constant";
            plan = new NodePlan(floatType.Value, -1, true, null, null);
            return null;
        }
        if (wTensor!.ElementType != floatType) return $"its weight {w} is {wTensor.ElementType.OnnxName()}, the activation {floatType.Value.OnnxName()}";
        int axis;
        Value? bias;
        LinearLayer? layer = null;
        if (node.OpType == "ConvTranspose")
        {
            // Not a linear layer x·B: W is [C, M/group, k...], output channels along axis 1 only without groups.
            if (wTensor.Rank < 3) return $"its weight {w} has rank {wTensor.Rank}";
            axis = node.GetInt("group", 1) == 1 ? 1 : -1;
            bias = node.Input(2);
        }
        else
        {
            if (LinearLayer.TryRead(node, out layer) is { } notLinear) return notLinear;
            axis = layer!.OutputChannelAxis;
            bias = layer.Bias;
            // QGemm takes an int32 bias scaled by s_x·s_w: only a plain [N] bias with β = 1 (else C stays float).
            if (node.OpType == "Gemm" && bias is not null && !(bias.Const is { Rank: 1 } c && c.Dims[0] == layer.N && c.ElementType == floatType && layer.Beta == 1f))
            {
                _context.Count("gemm-bias-float");
                bias = null;
            }
        }
        if (bias is not null && bias.Const is not { Rank: 1 } bt) return $"its bias {bias} is not a constant vector";
        if (bias?.Const is { } b && b.ElementType != floatType) return $"its bias {bias} is {b.ElementType.OnnxName()}";
        if (!_resolve.PerChannel(node, w)) axis = -1;
        plan = new NodePlan(floatType.Value, axis, false, bias, layer);
        return null;
    }

    internal bool HasRange(Value v) => _activations.ContainsKey(v) || _resolve.TryGetRange(v, _resolve.Activation(v), out _, out _);

    /// <summary>True when <see cref="QuantizeActivation"/> finds parameters for <paramref name="v"/>: a range for it or
    /// for a link up its chain of pass-through ops (calibration observes only the chain's start).</summary>
    internal bool HasChainRange(Value v)
    {
        for (Value? link = v; link is not null; link = PassThroughSource(link, _graph))
            if (HasRange(link)) return true;
        return false;
    }

    /// <summary>
    /// The DQ output that replaces <paramref name="x"/> (null when no range is known). A chain of pass-through ops
    /// (MaxPool, Reshape...) that leads to <paramref name="x"/> gets Q/DQ on every link with one set of parameters —
    /// those of the chain's start when calibrated, as the start's range contains what MaxPool or Reshape can output.
    /// </summary>
    internal (Value Dq, ActivationParams P)? QuantizeActivation(Value x, DataType floatType)
    {
        if (_activations.TryGetValue(x, out var done)) return done;
        if (_pinned is not null && _pinned.AlreadyQuantized.Contains(x))
        {
            // Quantized in float ops already (the log√2 quantizer): its readers read it as it is.
            _context.Count("already-quantized");
            return _activations[x] = (x, new ActivationParams(1, 0, DataType.Float));
        }
        if (_pinned is not null && _pinned.Pins.TryGetValue(x, out var pin))
        {
            var c = _resolve.Activation(x);
            if (c.IsFloat8 || c.Target.Bits != pin.Bits)
                throw new OnnxQuantException($"{_pass}: {x} was reparameterized for {pin.Bits}-bit codes, but this pass quantizes it to {c.Target}; " +
                    "give the reparameterizing pass and insert-qdq the same activation bits.");
            var (lo, hi) = c.Target.CodeRange;
            if (pin.ZeroPoint < lo || pin.ZeroPoint > hi)
                throw new OnnxQuantException($"{_pass}: the pinned zero point {pin.ZeroPoint} of {x} is outside {c.Target}'s codes [{lo}, {hi}].");
            var pinned = new ActivationParams(pin.Scale, pin.ZeroPoint, c.Type, c.Bits, c.Symmetric);
            _context.Count("pinned");
            var pinnedDq = Insert(x, pinned, floatType);
            return _activations[x] = _activations[pinnedDq] = (pinnedDq, pinned);
        }
        var chain = new List<Value> { x };
        for (var v = x; PassThroughSource(v, _graph) is { } src; v = src)
        {
            chain.Add(src);
            if (_activations.ContainsKey(src)) break;
        }
        ActivationParams? param = null;
        var choice = _resolve.Activation(x);
        for (int i = chain.Count - 1; i >= 0 && param is null; i--)
        {
            if (_activations.TryGetValue(chain[i], out var known)) param = known.P;
            else if (_resolve.TryGetRange(chain[i], choice, out float min, out float max))
            {
                var (s, z) = QdqMath.ActivationParams(min, max, choice.Target, floatType);
                if (choice.IsFloat8 && _float8Scale == Float8ScaleRule.Distribution)
                {
                    double std = _resolve.HistogramStd(chain[i])
                        ?? throw new OnnxQuantException($"{_pass}: float8-scale distribution needs the calibrated histogram of {chain[i]}; " +
                            "calibrate with method percentile, entropy or mse, or use float8-scale: range.");
                    s = QdqMath.RoundScale(QuantParams.Float8FromStd(std, choice.Target).Scale, floatType);
                }
                param = new ActivationParams(s, z, choice.Type, choice.Bits, choice.Symmetric);
                if (QuantParams.IsDegenerate(min, max, choice.Target))
                {
                    _context.Count("zero-range");
                    _context.Log($"{_pass}: warning: {chain[i]} was 0 on every calibration sample; it gets scale {s} (as ONNX Runtime's tool does), " +
                        "so values it takes at run time are rounded to that step. Calibrate on data that exercises it, or exclude its reader.");
                }
            }
        }
        if (param is not { } pr) return null;
        foreach (var v in chain)
        {
            if (_activations.ContainsKey(v)) continue;
            var dq = Insert(v, pr, floatType);
            // Readers of v now read dq: a node quantized later finds its input already quantized through this entry.
            _activations[v] = _activations[dq] = (dq, pr);
        }
        return _activations[x];
    }

    /// <summary>The input of the pass-through op (MaxPool, Reshape...) producing <paramref name="v"/>, when a chain
    /// of Q/DQ may extend through it: a non-constant input read by that op alone and not a graph output.</summary>
    private static Value? PassThroughSource(Value v, Graph graph) =>
        v.Producer is { } p && p.IsDefaultDomain && PassThroughOps.Contains(p.OpType) && p.Graph == graph
        && p.Inputs.Count > 0 && p.Inputs[0] is { IsConstant: false } src && src.Uses.Count == 1 && !src.IsAnyGraphOutput ? src : null;

    /// <summary>The activation inputs whose ranges <see cref="Plan"/> requires: the first input, and the second of a
    /// MatMul/Gemm when it is not a constant. <see cref="ActivationsToCalibrate"/> requests the same list.</summary>
    internal static IEnumerable<Value> RangedInputs(Node node)
    {
        if (node.Inputs.Count < 2) yield break;
        if (node.Inputs[0] is { IsConstant: false } x) yield return x;
        if (node.OpType is "MatMul" or "Gemm" && node.Inputs[1] is { IsConstant: false } w) yield return w;
    }

    /// <summary>Where <see cref="QuantizeOutput"/> puts the Q of <paramref name="output"/>: after a lone Relu that reads it, else on it.</summary>
    internal static Value OutputToQuantize(Value output) =>
        output.Uses.Count == 1 && !output.IsAnyGraphOutput && output.Uses[0].Node is { OpType: "Relu" } relu && relu.IsDefaultDomain
            ? relu.Output : output;

    /// <summary>
    /// The activations whose calibrated ranges <see cref="TryQuantize"/> reads when it quantizes the nodes of
    /// <paramref name="opTypes"/> in <paramref name="graph"/> (before any edit), in graph order: the
    /// <see cref="RangedInputs"/> that <see cref="Plan"/> checks, a Conv's or ConvTranspose's
    /// <see cref="OutputToQuantize"/> (what <see cref="TryQuantize"/> quantizes), and for the weightless ops
    /// <see cref="QdqActivationOpInserter.RangedValues"/>. Each is traced back through its chain of pass-through ops
    /// to the chain's start, the only link whose range <see cref="QuantizeActivation"/> uses when the start has one
    /// (the links are big: q, k and v of attention). Calibrating these tensors alone gives the same Q/DQ as
    /// calibrating every tensor. <see cref="InsertQdqPass.RequestStatistics"/> requests them.
    /// </summary>
    internal static List<Value> ActivationsToCalibrate(Graph graph, IReadOnlySet<string> opTypes)
    {
        var result = new List<Value>();
        var seen = new HashSet<Value>();
        void Add(Value? v)
        {
            if (v is null || v.IsConstant) return;
            while (PassThroughSource(v, graph) is { } src) v = src;
            if (seen.Add(v)) result.Add(v);
        }
        foreach (var node in graph.Nodes)
        {
            if (!node.IsDefaultDomain || !opTypes.Contains(node.OpType)) continue;
            if (QdqActivationOpInserter.Handles(node.OpType))
            {
                // Weightless ops: every data input and the output (or the lone Relu's after it) keep their own range.
                foreach (var input in QdqActivationOpInserter.RangedValues(node)) Add(input);
                continue;
            }
            if (node.Inputs.Count < 2) continue;
            foreach (var input in RangedInputs(node)) Add(input);
            if (node.OpType is "Conv" or "ConvTranspose" && node.Outputs.Count > 0 && node.Outputs[0] is { } output)
                Add(OutputToQuantize(output));
        }
        return result;
    }

    private Value Insert(Value x, ActivationParams p, DataType floatType)
    {
        string hint = x.Name ?? "x";
        var uses = x.Uses.ToList();
        var scale = _rewriter.AddConstant(TensorConversions.FromFloats(floatType, [p.Scale], []), _rewriter.FreshName(hint + "_scale"));
        var zero = _rewriter.AddConstant(TensorConversions.FromDoubles(p.Type, [p.ZeroPoint], []), _rewriter.FreshName(hint + "_zero_point"));
        Value quantizeInput = x;
        Node? clip = null;
        if (p.Bits is not null)
        {
            // Emulated width: only the 2^b codes [qmin, qmax] may occur, so clip to their values first; x/s of a
            // clipped end is within an ulp of qmin − z (or qmax − z), which rounds to it.
            var (qmin, qmax) = new QuantTarget(p.Type, p.Symmetric, emulatedBits: p.Bits).CodeRange;
            var lo = _rewriter.AddConstant(TensorConversions.FromFloats(floatType, [(float)((qmin - p.ZeroPoint) * (double)p.Scale)], []), _rewriter.FreshName(hint + "_clip_min"));
            var hi = _rewriter.AddConstant(TensorConversions.FromFloats(floatType, [(float)((qmax - p.ZeroPoint) * (double)p.Scale)], []), _rewriter.FreshName(hint + "_clip_max"));
            clip = new Node("Clip", [x, lo, hi], 1, "", name: _rewriter.FreshName(hint + "_Clip"), outputNames: [_rewriter.FreshName(hint + "_clipped")]);
            clip.Output.Type = x.Type ?? new TensorType(floatType, x.Shape);
            quantizeInput = clip.Output;
            _context.Count("emulated-bits");
        }
        var q = new Node("QuantizeLinear", [quantizeInput, scale, zero], 1, "", name: _rewriter.FreshName(hint + "_QuantizeLinear"),
            outputNames: [_rewriter.FreshName(hint + "_quantized")]);
        var dq = new Node("DequantizeLinear", [q.Output, scale, zero], 1, "", name: _rewriter.FreshName(hint + "_DequantizeLinear"),
            outputNames: [_rewriter.FreshName(hint + "_dequantized")]);
        q.Output.Type = new TensorType(p.Type, x.Shape);
        dq.Output.Type = x.Type ?? new TensorType(floatType, x.Shape);
        if (clip is not null)
        {
            _rewriter.InsertAfterProducer(x, clip);
            _rewriter.InsertAfter(clip, q);
        }
        else _rewriter.InsertAfterProducer(x, q);
        _rewriter.InsertAfter(q, dq);
        // Readers inside If/Loop/Scan bodies keep reading the float tensor: those bodies stay float.
        foreach (var use in uses)
            if (use.Node.Graph == _graph) _rewriter.ReplaceInput(use.Node, use.InputIndex, dq.Output);
        // A quantized graph output (a Conv's, which QLinearConv needs): the DQ takes over its name and its place,
        // so the op's own output has the Q as its only reader, as ORT's fusions require.
        _rewriter.TakeOverGraphOutput(x, dq.Output);
        _context.Count("activations");
        return dq.Output;
    }

    /// <summary>
    /// An int8 symmetric ([−127, 127]) copy of the constant <paramref name="w"/>, rounded by the recipe's rounder, with
    /// its DequantizeLinear (axis −1: per tensor). <paramref name="layer"/> lays the weight out as rows (null for a
    /// ConvTranspose: rows along <paramref name="axis"/>). <paramref name="adjustScales"/> may widen scales (for the
    /// bias, <see cref="BiasQuantization"/>); a widened copy is this node's own, as the weight's other readers need no widening.
    /// </summary>
    private QuantizedWeight QuantizeWeight(Value w, int axis, DataType floatType, LinearLayer? layer, Func<float[], float[]>? adjustScales = null)
    {
        if (adjustScales is null && _weights.TryGetValue((w, axis), out var done)) return done;
        var t = w.Const!;
        var rows = AxisRows.Of(t.Dims, axis);
        // ReadRows releases a mapped weight's pages once read; so does the ConvTranspose path.
        float[] data = layer?.ReadRows() ?? rows.ToRows<float>(t.ToFloatArray());
        if (layer is null) t.Storage?.ReleasePages();
        int rowCount = layer?.OutputChannels ?? (int)rows.RowCount;
        int length = data.Length / rowCount;
        var grid = new WeightGrid(_weightBits, WeightScaleRule.NarrowSymmetric, length, axis < 0, floatType);
        // With weight-clip-search each channel's range is searched (H-weighted where the layer's XᵀX is calibrated).
        var natural = ClipSearchHessian is { } hessianOf && !grid.PerTensor
            ? WeightClipSearch.Search(data, rowCount, length, grid, layer is null ? null : hessianOf(layer))
            : grid.ScalesOf(data, rowCount, length);
        // One scale per output channel (per tensor: the one every row repeats).
        float[] naturalScales = axis < 0 ? [natural.Scales[0]] : natural.Scales;
        var scales = adjustScales?.Invoke(naturalScales) ?? naturalScales;
        bool own = !ReferenceEquals(scales, naturalScales);
        if (!own && _weights.TryGetValue((w, axis), out done)) return done;
        var given = own ? new BlockScales(axis < 0 ? Enumerable.Repeat(scales[0], rowCount).ToArray() : scales, natural.ZeroPoints) : natural;
        var rounded = _rounder.Round(data, rowCount, length, grid, layer, given);
        var signed = rounded.Codes.Select(c => (sbyte)(c - rounded.DefaultZeroPoint)).ToArray();
        var q = layer?.RowsToStored<sbyte>(signed) ?? rows.ToStored<sbyte>(signed);
        long channels = scales.Length;

        string hint = w.Name ?? "w";
        long[] scaleDims = axis < 0 ? [] : [channels];
        // On a streaming model (external data, maybe larger than memory) the int8 weight waits for the writer on disk.
        var qw = _rewriter.AddWeight(Tensor.FromSpan(DataType.Int8, q, t.Dims.ToArray()), _rewriter.FreshName(hint + "_quantized"));
        var scale = _rewriter.AddWeight(TensorConversions.FromFloats(floatType, scales, scaleDims), _rewriter.FreshName(hint + "_scale"));
        var zero = _rewriter.AddWeight(Tensor.FromSpan(DataType.Int8, new sbyte[channels], scaleDims), _rewriter.FreshName(hint + "_zero_point"));
        var dq = new Node("DequantizeLinear", [qw, scale, zero], 1, "", axis < 0 ? null : [Attribute.Int("axis", axis)],
            _rewriter.FreshName(hint + "_DequantizeLinear"), [_rewriter.FreshName(hint + "_dequantized")]);
        dq.Output.Type = new TensorType(floatType, new Shape(t.Dims.ToArray()));
        _rewriter.InsertAtFront(dq);
        _context.Count("weights");
        // bias-correction, when it follows, needs W − Ŵ: keep W (a reference to the immutable tensor).
        BiasCorrection.QuantizedFloatWeights.ForFollowingBiasCorrection(_context)?.Add(dq.Output, t);
        var result = new QuantizedWeight(dq.Output, scales);
        if (!own) _weights[(w, axis)] = result;
        return result;
    }

    /// <summary>The weight scales of <paramref name="node"/> widened where its bias would not fit int32, counted and logged.</summary>
    private float[] WidenForBias(Node node, float[] bias, float inputScale, float[] scales, DataType floatType)
    {
        var widened = BiasQuantization.WidenWeightScales(inputScale, scales, bias, floatType, out int count);
        if (count == 0) return scales;
        _context.Count("bias-widened-channels", count);
        _context.RecordMiss("bias", "int32 bias too large for s_x·s_w: weight scale widened");
        _context.Log($"{_pass}: warning: {node}: the bias of {count} of {scales.Length} channel(s) does not fit int32 at scale " +
            "input scale × weight scale (tiny or all-zero weights); their weight scales were widened until it fits, as ONNX Runtime's tool does.");
        return widened;
    }

    /// <summary>The bias as int32 with scale s_x·s_w[c] and zero point 0, dequantized (what QLinearConv/QGemm read).</summary>
    private Value QuantizeBias(Node node, Value bias, float[] data, float inputScale, float[] weightScales, DataType floatType)
    {
        var t = bias.Const!;
        bool perChannel = weightScales.Length > 1;
        var (q, scales, saturated) = BiasQuantization.Quantize(data, inputScale, weightScales, floatType);
        if (saturated > 0)
        {
            // Only when widening cannot help (a float16 scale at its largest value): never clip without telling.
            _context.Count("bias-saturated", saturated);
            _context.RecordMiss("bias", "int32 bias saturated");
            _context.Log($"{_pass}: warning: {node}: {saturated} bias value(s) of {bias} saturate int32 even with widened weight scales; " +
                "its output will be wrong. Exclude the node (exclude-nodes) to keep it float.");
        }
        string hint = bias.Name ?? "bias";
        long[] scaleDims = perChannel ? [scales.Length] : [];
        var qb = _rewriter.AddWeight(Tensor.FromInt32s(q, data.Length), _rewriter.FreshName(hint + "_quantized"));
        var scale = _rewriter.AddWeight(TensorConversions.FromFloats(floatType, scales, scaleDims), _rewriter.FreshName(hint + "_scale"));
        var zero = _rewriter.AddWeight(Tensor.FromSpan(DataType.Int32, new int[scales.Length], scaleDims), _rewriter.FreshName(hint + "_zero_point"));
        var dq = new Node("DequantizeLinear", [qb, scale, zero], 1, "", perChannel ? [Attribute.Int("axis", 0)] : null,
            _rewriter.FreshName(hint + "_DequantizeLinear"), [_rewriter.FreshName(hint + "_dequantized")]);
        dq.Output.Type = new TensorType(floatType, new Shape(t.Dims.ToArray()));
        _rewriter.InsertAtFront(dq);
        _context.Count("biases");
        return dq.Output;
    }
}
