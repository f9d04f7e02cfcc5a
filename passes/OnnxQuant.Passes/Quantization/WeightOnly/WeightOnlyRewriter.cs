using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Quantization.Rounding;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Quantization.WeightOnly;

/// <summary>
/// The edits of <see cref="QuantizeWeightsPass"/> on the main graph. A weight is quantized once per
/// (constant, layout, bits, folded Gemm alpha), and every consumer that needs the same layout reads the same
/// initializers. Layouts: MatMulNBits and GatherBlockQuantized both want one row per output channel (table row /
/// B column) cut into blocks along K, so a head reading <c>Transpose(E)</c> or <c>Gemm(E, transB=1)</c> and the
/// embedding <c>Gather(E)</c> share one packed tensor [V, blocks, blob] (GatherBlockQuantized reads it with
/// quantize_axis 2, then a Reshape); only the scales (and zero points) are stored twice, because GatherBlockQuantized
/// wants them as [V, blocks, 1] and MatMulNBits as [V, blocks] (counted <c>tied-shared</c>, extra bytes in
/// <c>tied-extra-bytes</c>). In the dq format one DequantizeLinear feeds both readers. Anything else that keeps two
/// copies of one weight — a head reading E untransposed (E's columns as rows: another layout), different bits for the
/// head and the embedding, or a float embedding kept beside a quantized head — is counted (<c>tied-copies</c>,
/// <c>tied-extra-bytes</c>) and logged with its size, never silent.
/// </summary>
internal sealed partial class WeightOnlyRewriter
{
    private readonly record struct Key(Value Source, bool Transposed, int Bits, float Alpha);
    private readonly record struct NBitsTensors(Value? B, Value Scales, Value? ZeroPoints);

    public const string MsDomain = "com.microsoft";

    private readonly Model _model;
    private readonly Graph _graph;
    private readonly Rewriter _rewriter;
    private readonly IWeightRounder _rounder;
    private readonly WeightOnlySettings _s;
    private readonly PassContext _context;
    private readonly string _pass;
    private readonly Dictionary<Key, BlockQuantizedRows> _rows = [];
    private readonly Dictionary<Key, NBitsTensors> _nbits = [];
    private readonly Dictionary<Key, Value> _gatherData = [];
    private readonly Dictionary<Key, Value> _packedB = [];
    private readonly Dictionary<Key, (Value, Value?)> _gatherScales = [];
    private readonly Dictionary<Value, long> _scaleCopies = [];
    private readonly Dictionary<Key, Value> _dq = [];
    private readonly Dictionary<Key, Value> _dqTransposed = [];
    private readonly Dictionary<Value, List<(string Kind, long Bytes)>> _copies = [];
    private readonly HashSet<Node> _transposes = [];

    public WeightOnlyRewriter(Model model, WeightOnlySettings settings, PassContext context, string pass, IWeightRounder rounder)
    {
        _model = model;
        _graph = model.Graph;
        _rewriter = new Rewriter(_graph);
        _rounder = rounder;
        _s = settings;
        _context = context;
        _pass = pass;
    }

    private long Opset => _model.GetOpset("") ?? 1;

    /// <summary>Adds a tensor the pass made from a weight; on a streaming model a large one waits on disk (<see cref="Graph.AddWeight"/>).</summary>
    private Value AddWeight(Tensor tensor, string name) => _rewriter.AddWeight(tensor, name);

    /// <summary>Rewrites one MatMul or Gemm; false (counted and logged) when it stays float.</summary>
    public bool TryQuantizeMatMul(Node node, int bits)
    {
        string? why = PlanMatMul(node, out var key, out var layer, out int n, out int k, out var bias, out var addAfter);
        if (why is not null) return Skip(node, why, why.Contains("not a constant", StringComparison.Ordinal) ? "non-constant-weight" : "skipped");
        var x = node.Inputs[0]!;
        var floatType = key.Source.Const!.ElementType;
        key = key with { Bits = bits };
        if (_s.Format == WeightOnlyFormat.Dq)
        {
            Value dq;
            if (_rounder is GptqtRounder binary)
            {
                if (layer is null || !key.Transposed)
                    return Skip(node, "binary coding (rounding: gptqt) exports a MatMul/Gemm weight stored as [K, N] only", "skipped");
                dq = BinaryCodedWeight(key, floatType, layer, binary);
            }
            else dq = DequantizedWeight(key, floatType, layer);
            int slot = 1;
            if (node.OpType == "MatMul" && node.Inputs[1]!.Producer is { OpType: "Transpose" } transpose)
            {
                // B = Transpose(E): keep the transpose, on the dequantized E (shared with a tied Gather).
                _transposes.Add(transpose);
                if (!_dqTransposed.TryGetValue(key, out var t))
                {
                    var tn = new Node("Transpose", [dq], 1, "", [Attribute.Ints("perm", [1, 0])], _rewriter.FreshName((key.Source.Name ?? "w") + "_Transpose"),
                        [_rewriter.FreshName((key.Source.Name ?? "w") + "_dequantized_T")]);
                    tn.Output.Type = new TensorType(floatType, new Shape(key.Source.Const.Dims[1], key.Source.Const.Dims[0]));
                    _rewriter.InsertAfter(dq.Producer!, tn);
                    _dqTransposed[key] = t = tn.Output;
                }
                dq = t;
            }
            _rewriter.ReplaceInput(node, slot, dq);
            _context.Count("dq");
            return true;
        }

        var q = MatMulNBitsPacking.InContainer(Rows(key, layer));
        var nb = NBits(key, q, floatType);
        var attrs = new List<Attribute>
        {
            Attribute.Int("K", k), Attribute.Int("N", n), Attribute.Int("bits", q.Bits),
            Attribute.Int("block_size", q.BlockSize), Attribute.Int("accuracy_level", _s.AccuracyLevel),
        };
        var inputs = new List<Value?> { x, nb.B, nb.Scales, nb.ZeroPoints };
        if (bias is not null) inputs.AddRange([null, bias]);
        while (inputs[^1] is null) inputs.RemoveAt(inputs.Count - 1);
        var mm = new Node("MatMulNBits", inputs, 1, MsDomain, attrs, _rewriter.FreshName((node.Name ?? "MatMul") + "_MatMulNBits"),
            [_rewriter.FreshName((node.Output.Name ?? "y") + "_nbits")]);
        mm.Output.Type = node.Output.Type;
        NodeOrigin.Inherit(mm, node);
        _rewriter.InsertBefore(node, mm);
        var result = mm.Output;
        if (addAfter is not null)
        {
            var add = new Node("Add", [result, addAfter], 1, "", null, _rewriter.FreshName((node.Name ?? "Gemm") + "_bias"),
                [_rewriter.FreshName((node.Output.Name ?? "y") + "_biased")]);
            add.Output.Type = node.Output.Type;
            _rewriter.InsertAfter(mm, add);
            result = add.Output;
        }
        if (node.Inputs[1]!.Producer is { OpType: "Transpose" } tr) _transposes.Add(tr);
        _rewriter.ReplaceAllUsesWith(node.Output, result);
        // The node goes with the constants only it read (a Gemm C replaced by a scaled copy, the weight when no other
        // node reads it; Finish reports weights kept for other readers).
        _rewriter.RemoveDead([node]);
        _context.Count("matmulnbits");
        if (q.Bits != 4 && _s.AccuracyLevel < 4) WarnSlowKernel(q.Bits);
        return true;
    }

    private bool _warnedSlowKernel;

    /// <summary>
    /// ONNX Runtime 1.31's CPU provider has a fast float-activation MatMulNBits kernel for 4 bits only: measured on a
    /// generated llama GEMV (1×2048 by 2048×32000 head), 8-bit at accuracy level 0 or 1 ran 53–66× slower than the float
    /// MatMul and 2-bit 26×, against 0.5× for 4-bit. The model is still correct (and right for execution providers with
    /// such kernels), so this warns once and counts instead of refusing.
    /// </summary>
    private void WarnSlowKernel(int bits)
    {
        _context.Count($"slow-on-cpu-{bits}bit-level{_s.AccuracyLevel}");
        if (_warnedSlowKernel) return;
        _warnedSlowKernel = true;
        _context.Log($"{_pass}: warning: {bits}-bit MatMulNBits at accuracy level {_s.AccuracyLevel} has no fast kernel in ONNX Runtime's " +
                     "CPU provider (measured tens of times slower than float). For CPU speed use 4 bits at level 0, accuracy-level: 4 " +
                     "(int8 activations), or lm-head: float.");
    }

    /// <summary>Rewrites an embedding Gather on a constant 2-D table; false (counted and logged) when it stays float.</summary>
    public bool TryQuantizeGather(Node node, int bits)
    {
        if (node.Inputs.Count < 2 || node.Inputs[0] is not { Const: { Rank: 2 } table } t || node.Inputs[1] is null)
            return Skip(node, "its table is not a constant 2-D tensor", "skipped");
        if (table.ElementType is not (DataType.Float or DataType.Float16))
            return Skip(node, $"its table is {table.ElementType.OnnxName()}", "skipped");
        long axis = node.GetInt("axis", 0);
        if (axis is not (0 or -2)) return Skip(node, $"it gathers along axis {axis}, not the rows of the table", "skipped");
        var key = new Key(t, false, bits, 1f);
        int d = (int)table.Dims[1];
        int block = _s.BlockFor(d);
        bool gbq = _s.Format == WeightOnlyFormat.MatMulNBits && bits is 4 or 8 && d % block == 0;
        if (gbq)
        {
            var q = Rows(key);
            // Indices of known rank: read MatMulNBits's own B ([V, blocks, blob]) so a tied head shares the bytes, and
            // reshape [..., blocks, bs] back to [..., D]; else a 2-D [V, D·bits/8] copy of the bytes.
            int? indicesRank = node.Inputs[1]!.Shape?.Rank;
            Value data;
            Value scales;
            Value? zero;
            if (indicesRank is { } rank)
            {
                data = PackedB(key, q);
                (scales, zero) = GatherScales(key, q);
            }
            else
            {
                data = GatherData(key, q);
                var nb = NBits(key, q, table.ElementType, forGather: true);
                (scales, zero) = (nb.Scales, nb.ZeroPoints);
            }
            var inputs = new List<Value?> { data, node.Inputs[1], scales, zero };
            if (inputs[^1] is null) inputs.RemoveAt(3);
            var g = new Node("GatherBlockQuantized", inputs, 1, MsDomain,
                [Attribute.Int("gather_axis", 0), Attribute.Int("quantize_axis", data.Const!.Rank - 1), Attribute.Int("block_size", q.BlockSize), Attribute.Int("bits", bits)],
                _rewriter.FreshName((node.Name ?? "Gather") + "_quantized"), [_rewriter.FreshName((node.Output.Name ?? "embedded") + "_q")]);
            _rewriter.InsertBefore(node, g);
            var result = g.Output;
            if (indicesRank is { } r)
            {
                var shape = _rewriter.AddConstant(Tensor.FromInt64s([.. Enumerable.Repeat(0L, r), -1], r + 1), _rewriter.FreshName((key.Source.Name ?? "table") + "_rows_shape"));
                var reshape = new Node("Reshape", [g.Output, shape], 1, "", null, _rewriter.FreshName((node.Name ?? "Gather") + "_rows"),
                    [_rewriter.FreshName((node.Output.Name ?? "embedded") + "_rows")]);
                _rewriter.InsertAfter(g, reshape);
                result = reshape.Output;
            }
            else g.Output.Type = node.Output.Type;
            result.Type = node.Output.Type;
            _rewriter.ReplaceAllUsesWith(node.Output, result);
            _rewriter.RemoveDead([node]);
            _context.Count("gather-block-quantized");
            return true;
        }
        if (Opset < QuantizeWeightsPass.DqOpset)
            return Skip(node, $"GatherBlockQuantized cannot hold it ({bits} bits, width {d}, block {block}) and a blocked " +
                $"DequantizeLinear needs opset {QuantizeWeightsPass.DqOpset} (the model has {Opset}); run upgrade-opset first", "embedding-float");
        _rewriter.ReplaceInput(node, 0, DequantizedWeight(key, table.ElementType));
        _context.Count("embedding-dq");
        return true;
    }

    /// <summary>Removes weights and Transposes nothing reads any more; counts and logs weights stored more than once.</summary>
    public void Finish()
    {
        foreach (var tr in _transposes)
            if (tr.Graph == _graph) _rewriter.RemoveDead([tr]);
        foreach (var (source, copies) in _copies)
        {
            bool floatKept = source.Uses.Count > 0 || source.IsAnyGraphOutput;
            long floatBytes = source.Const!.ByteLength;
            if (!floatKept) _rewriter.RemoveConstantIfUnused(source);
            int stored = copies.Count + (floatKept ? 1 : 0);
            if (stored <= 1)
            {
                if (_scaleCopies.GetValueOrDefault(source) is > 0 and var scaleBytes && source.Uses.Count == 0 && HasNBitsReader(source))
                {
                    _context.Count("tied-shared");
                    _context.Count("tied-extra-bytes", scaleBytes);
                    _context.Log($"{_pass}: {source} is shared by the embedding and the head ({copies[0].Bytes} B packed once); " +
                        $"GatherBlockQuantized needs its own [V, blocks, 1] scales: {scaleBytes} bytes more.");
                }
                continue;
            }
            long extra = copies.Skip(1).Sum(c => c.Bytes) + (floatKept ? floatBytes : 0);
            _context.Count("tied-copies", stored - 1);
            _context.Count("tied-extra-bytes", extra);
            string what = string.Join(", ", copies.Select(c => $"{c.Kind} {c.Bytes} B"));
            _context.Log($"{_pass}: {source} is stored {stored} times ({what}{(floatKept ? $", float {floatBytes} B kept for float readers" : "")}): " +
                $"its readers need different layouts or precisions; {extra} bytes more than one copy.");
        }
    }

    private bool HasNBitsReader(Value source) =>
        _nbits.Any(e => e.Key.Source == source && e.Value.B is { } b && b.Uses.Any(u => u.Node.OpType == "MatMulNBits"));

    private bool Skip(Node node, string why, string counter)
    {
        StaysFloat.Report(_context, _pass, "quantize", node, why, counter);
        return false;
    }

    private string? PlanMatMul(Node node, out Key key, out LinearLayer? layer, out int n, out int k, out Value? bias, out Value? addAfter)
    {
        key = default;
        layer = null;
        n = k = 0;
        bias = addAfter = null;
        if (node.Inputs.Count < 2 || node.Inputs[0] is not { } x || node.Inputs[1] is not { } w) return "it lacks an input";
        if (x.Shape is { Rank: < 2 } && _s.Format == WeightOnlyFormat.MatMulNBits) return "its input A has rank 1";
        Value source;
        bool transposed;
        if (w.Const is { } c)
        {
            if (c.Rank != 2) return $"its weight {w} has rank {c.Rank}, not 2";
            if (LinearLayer.TryRead(node, out layer) is { } notLinear) return notLinear;
            source = w;
            // Rows are output channels: a [K, N] weight (MatMul, Gemm without transB) is read transposed.
            transposed = layer!.OutputChannelAxis == 1;
        }
        else if (node.OpType == "MatMul" && w.Producer is { OpType: "Transpose" } tr && tr.IsDefaultDomain && tr.Inputs[0] is { Const: { Rank: 2 } } e
                 && (tr.GetInts("perm") is null || tr.GetInts("perm") is [1, 0]))
        {
            // B = Transpose(E): B's columns are E's rows, MatMulNBits's layout already (a tied LM head).
            source = e;
            transposed = false;
        }
        else return $"its weight {w} is not a constant";
        var t = source.Const!;
        if (t.ElementType is not (DataType.Float or DataType.Float16)) return $"its weight {w} is {t.ElementType.OnnxName()}";
        if (x.ElementType is { } xt && xt != t.ElementType) return $"its input is {xt.OnnxName()}, its weight {t.ElementType.OnnxName()}";
        n = (int)(transposed ? t.Dims[1] : t.Dims[0]);
        k = (int)(transposed ? t.Dims[0] : t.Dims[1]);
        float alpha = 1f;
        if (layer is { Node.OpType: "Gemm" })
        {
            alpha = layer.Alpha;
            float beta = layer.Beta;
            if (_s.Format == WeightOnlyFormat.Dq) alpha = 1f; // the Gemm stays and applies alpha and C itself
            else if (layer.Bias is { } cv)
            {
                if (cv.Const is { } ct && ct.ElementType == t.ElementType && layer.ReadBias() is { } row)
                {
                    // A constant row of N (or one) values becomes MatMulNBits's bias input, β folded in.
                    if (beta == 1f && ct.Rank == 1 && ct.ElementCount == n) bias = cv;
                    else bias = _rewriter.AddConstant(TensorConversions.FromFloats(t.ElementType, row, [n]), _rewriter.FreshName((cv.Name ?? "C") + "_bias"));
                }
                else if (beta == 1f) addAfter = cv;
                else if (cv.Const is { } full && full.ElementType == t.ElementType)
                    addAfter = _rewriter.AddConstant(TensorConversions.FromFloats(t.ElementType, full.ToFloatArray().Select(v => beta * v).ToArray(),
                        full.Dims.ToArray()), _rewriter.FreshName((cv.Name ?? "C") + "_scaled"));
                else return $"it is a Gemm with beta = {beta} on a non-constant C (MatMulNBits has no beta)";
            }
        }
        key = new Key(source, transposed, 0, alpha);
        return null;
    }

    /// <summary>
    /// The row quantization of a key (rows = output channels), computed once. Kept for later readers only when the
    /// weight has any (a tied embedding and head, a Transpose read twice): the codes are a byte per weight, and keeping
    /// every layer's would hold a model's worth of them. The weight's mapped pages are released once read.
    /// </summary>
    private BlockQuantizedRows Rows(Key key, LinearLayer? layer = null)
    {
        if (_rows.TryGetValue(key, out var done)) return done;
        var t = key.Source.Const!;
        var layout = Layout(key);
        // A float32 weight is permuted straight from its (mapped) bytes: one weight-sized copy, not two.
        float[] w = t.ElementType == DataType.Float ? layout.ToRows(t.AsSpan<float>()) : layout.ToRows<float>(t.ToFloatArray());
        t.Storage?.ReleasePages();
        if (key.Alpha != 1f)
            for (int i = 0; i < w.Length; i++) w[i] *= key.Alpha;
        int rows = (int)layout.RowCount, cols = (int)layout.RowLength;
        // Per channel in the dq format is DequantizeLinear's per-axis form: one block of exactly K.
        int block = _s.PerChannel && _s.Format == WeightOnlyFormat.Dq ? cols : _s.BlockFor(cols);
        var grid = new WeightGrid(key.Bits, _s.Symmetric ? WeightScaleRule.SignedExtreme : WeightScaleRule.Asymmetric, block, false, t.ElementType);
        var q = _rounder.Round(w, rows, cols, grid, layer);
        if (MayBeReadAgain(key.Source)) _rows[key] = q;
        return q;
    }

    /// <summary>False only for a weight with one reader that is not a Transpose: no later node can ask for its rows.</summary>
    private static bool MayBeReadAgain(Value source) =>
        source.Uses.Count != 1 || source.Uses[0].Node.OpType == "Transpose" || source.IsAnyGraphOutput;

    /// <summary>The source constant read as rows of output channels: a [K, N] weight along axis 1, a table or [N, K] weight as stored.</summary>
    private static AxisRows Layout(Key key) => AxisRows.Of(key.Source.Const!.Dims, key.Transposed ? 1 : 0);

    private NBitsTensors NBits(Key key, BlockQuantizedRows q, DataType floatType, bool forGather = false)
    {
        string hint = key.Source.Name ?? "w";
        // The scales and zero points have the same layout for MatMulNBits and GatherBlockQuantized: made once, shared.
        if (!_nbits.TryGetValue(key, out var shared))
        {
            var scales = AddWeight(TensorConversions.FromFloats(floatType, q.Scales, [q.Rows, q.BlockCount]), _rewriter.FreshName(hint + "_scales"));
            Value? zero = null;
            if (!q.Symmetric)
            {
                var zp = MatMulNBitsPacking.PackZeroPoints(q);
                zero = AddWeight(Tensor.FromSpan<byte>(DataType.UInt8, zp,
                    [q.Rows, MatMulNBitsPacking.ZeroPointRowBytes(q.BlockCount, q.Bits)]), _rewriter.FreshName(hint + "_zero_points"));
            }
            _nbits[key] = shared = new NBitsTensors(null, scales, zero);
        }
        if (forGather || shared.B is not null) return shared;
        return _nbits[key] = shared with { B = PackedB(key, q) };
    }

    /// <summary>B of MatMulNBits, [N, blocks, blob]; GatherBlockQuantized reads the same tensor (quantize_axis 2).</summary>
    private Value PackedB(Key key, BlockQuantizedRows q)
    {
        if (_packedB.TryGetValue(key, out var done)) return done;
        int blob = MatMulNBitsPacking.BlobSize(q.BlockSize, q.Bits);
        var bytes = MatMulNBitsPacking.PackB(q);
        var b = AddWeight(Tensor.FromSpan<byte>(DataType.UInt8, bytes, [q.Rows, q.BlockCount, blob]), _rewriter.FreshName((key.Source.Name ?? "w") + "_nbits"));
        Record(key.Source, "packed B [N, blocks, blob]", bytes.Length);
        return _packedB[key] = b;
    }

    /// <summary>
    /// Scales [V, blocks, 1] and zero points (one per byte, low bits) for GatherBlockQuantized on the 3-D B: its scales
    /// must have the data's rank, and MatMulNBits accepts only [N, blocks] or [N·blocks], so these are a second, small copy.
    /// </summary>
    private (Value Scales, Value? ZeroPoints) GatherScales(Key key, BlockQuantizedRows q)
    {
        if (_gatherScales.TryGetValue(key, out var done)) return done;
        string hint = key.Source.Name ?? "table";
        var floatType = key.Source.Const!.ElementType;
        var scales = AddWeight(TensorConversions.FromFloats(floatType, q.Scales, [q.Rows, q.BlockCount, 1]), _rewriter.FreshName(hint + "_gather_scales"));
        Value? zero = q.Symmetric ? null : AddWeight(Tensor.FromSpan<byte>(DataType.UInt8, q.ZeroPoints.Select(z => (byte)z).ToArray(),
            [q.Rows, q.BlockCount, 1]), _rewriter.FreshName(hint + "_gather_zero_points"));
        _scaleCopies[key.Source] = _scaleCopies.GetValueOrDefault(key.Source) + scales.Const!.ByteLength + (zero?.Const!.ByteLength ?? 0);
        return _gatherScales[key] = (scales, zero);
    }

    private Value GatherData(Key key, BlockQuantizedRows q)
    {
        if (_gatherData.TryGetValue(key, out var done)) return done;
        var bytes = MatMulNBitsPacking.PackB(q);
        var data = AddWeight(Tensor.FromSpan<byte>(DataType.UInt8, bytes, [q.Rows, (long)q.Columns * q.Bits / 8]),
            _rewriter.FreshName((key.Source.Name ?? "table") + "_gather_quantized"));
        Record(key.Source, "GatherBlockQuantized data", bytes.Length);
        return _gatherData[key] = data;
    }

    /// <summary>
    /// A blocked (or per-axis) DequantizeLinear of the source constant, in the source's own orientation: blocks along K,
    /// which is axis 0 of a MatMul B ([K, N]) and axis 1 of a table or transB weight ([N, K]).
    /// </summary>
    private Value DequantizedWeight(Key key, DataType floatType, LinearLayer? layer = null)
    {
        if (_dq.TryGetValue(key, out var done)) return done;
        var q = Rows(key, layer);
        int n = q.Rows, k = q.Columns, blocks = q.BlockCount, half = q.DefaultZeroPoint;
        int bits = q.Bits;
        DataType type = q.Symmetric ? (bits <= 4 ? DataType.Int4 : DataType.Int8) : (bits <= 4 ? DataType.UInt4 : DataType.UInt8);
        bool perAxis = _s.PerChannel;
        long[] dims = key.Transposed ? [k, n] : [n, k];
        long[] scaleDims = perAxis ? [n] : key.Transposed ? [blocks, n] : [n, blocks];
        var values = Layout(key).ToStored<int>(q.Codes.Select(code => code - (q.Symmetric ? half : 0)).ToArray());
        // Scales and zero points: [N] per axis, else [N, blocks] beside the rows, [blocks, N] beside a [K, N] weight.
        var scaleRows = AxisRows.Of(perAxis ? [n] : key.Transposed ? [blocks, n] : [n, blocks], perAxis ? 0 : key.Transposed ? 1 : 0);
        var scales = scaleRows.ToStored<float>(q.Scales);
        var zeros = scaleRows.ToStored<int>(q.ZeroPoints);
        string hint = key.Source.Name ?? "w";
        var data = AddWeight(Pack(type, values, dims), _rewriter.FreshName(hint + "_quantized"));
        Record(key.Source, "DequantizeLinear data", data.Const!.ByteLength);
        var scale = AddWeight(TensorConversions.FromFloats(floatType, scales, scaleDims), _rewriter.FreshName(hint + "_scale"));
        var inputs = new List<Value?> { data, scale };
        if (!q.Symmetric) inputs.Add(AddWeight(Pack(type, zeros, scaleDims), _rewriter.FreshName(hint + "_zero_point")));
        var attrs = new List<Attribute> { Attribute.Int("axis", key.Transposed ? (perAxis ? 1 : 0) : (perAxis ? 0 : 1)) };
        if (!perAxis) attrs.Add(Attribute.Int("block_size", q.BlockSize));
        var dq = new Node("DequantizeLinear", inputs, 1, "", attrs, _rewriter.FreshName(hint + "_DequantizeLinear"), [_rewriter.FreshName(hint + "_dequantized")]);
        dq.Output.Type = new TensorType(floatType, new Shape(dims));
        _rewriter.InsertAtFront(dq);
        return _dq[key] = dq.Output;
    }

    private static Tensor Pack(DataType type, int[] values, long[] dims) => type switch
    {
        DataType.Int4 or DataType.UInt4 => Tensor.FromRaw(type, dims, Ir.Numerics.SubBytePacking.Pack(values, 4)),
        DataType.Int8 => Tensor.FromSpan(type, values.Select(v => (sbyte)v).ToArray(), dims),
        _ => Tensor.FromSpan(type, values.Select(v => (byte)v).ToArray(), dims),
    };

    private void Record(Value source, string kind, long bytes)
    {
        if (!_copies.TryGetValue(source, out var list)) _copies[source] = list = [];
        list.Add((kind, bytes));
    }
}
