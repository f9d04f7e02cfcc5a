using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Equivalence.Rotation;

/// <summary>
/// The edits the rotate pass makes to one linear layer y = α·x·B + b, gathered in double precision and written once:
/// scalings and rotations of B's rows (input side, <see cref="TransformRows"/>) and of its columns with the bias
/// (output side, <see cref="TransformColumns"/>). Row and column transforms commute, so their order does not matter;
/// folding a norm's γ and β (<see cref="FoldInputAffine"/>) must come first, as it reads B as it was.
/// <para>
/// The edits are recorded, not applied: the weight is read, edited in the recorded order and written in
/// <see cref="Write"/>, then dropped, so the pass holds one layer's weight (as doubles) at a time however large the
/// model is (issue 16; holding every layer's doubles until the write took ≥ 9.99 GB on 8 layers of the 2.7B shape).
/// Each recorded op acts on whole rows of one length, so it runs over row ranges on all cores; the values are those
/// of one call over the whole buffer.
/// </para>
/// </summary>
internal sealed class RotationLayerEdit
{
    private readonly LinearLayer _layer;
    private readonly List<Action> _ops = [];
    // While writing: the weight, either as rows [N, K] (row n = output channel n: input-side ops act on contiguous
    // rows) or as B [K, N] (output-side ops act on contiguous rows); transposed only when the next op needs the other
    // layout. Null outside Write.
    private double[]? _data;
    private bool _rowsLayout = true;
    private double[]? _bias;      // effective per-output bias (Gemm's β applied); null: none and none needed

    /// <param name="layer">The layer.</param>
    /// <param name="applyWhenRecorded">Read the weight now and apply each edit as it is recorded (the pass before
    /// issue 16: every layer's doubles held until the write); kept so a test can check the recorded path's bytes.</param>
    public RotationLayerEdit(LinearLayer layer, bool applyWhenRecorded = false)
    {
        _layer = layer;
        K = layer.K;
        N = layer.N;
        if (applyWhenRecorded) Load();
    }

    public Node Node => _layer.Node;
    public int K { get; }
    public int N { get; }

    private void Record(Action op)
    {
        // A step may record on different layers from several threads; one layer is recorded on by one thread at a
        // time, but the lock keeps the list whole if that ever changes.
        lock (_ops)
        {
            if (_data is not null) op();
            else _ops.Add(op);
        }
    }

    /// <summary>x = x̂·diag(γ) + β: B ← diag(γ)·B, b ← b + α·β·B (β may be null).</summary>
    public void FoldInputAffine(float[] gamma, float[]? beta) => Record(() => ApplyInputAffine(gamma, beta));

    /// <summary>Applies <paramref name="op"/> to every row of B (length N) and to the bias: B ← B·M, b ← b·M.</summary>
    public void TransformColumns(Action<Span<double>> op) => Record(() =>
    {
        UseB();
        ForRowRanges(_data!, N, op);
        if (_bias is not null) op(_bias);
    });

    /// <summary>Applies <paramref name="op"/> to every column of B (length K), i.e. B ← Mᵀ·B when op is x ← x·M.</summary>
    public void TransformRows(Action<Span<double>> op) => Record(() =>
    {
        UseRows();
        ForRowRanges(_data!, K, op);
    });

    private void ApplyInputAffine(float[] gamma, float[]? beta)
    {
        UseRows();
        bool shift = beta is not null && beta.Any(v => v != 0);
        if (shift) _bias ??= new double[N];
        var data = _data!;
        var bias = _bias;
        Parallel.For(0, N, n =>
        {
            var row = data.AsSpan((int)((long)n * K), K);
            if (shift)
            {
                double sum = 0;
                for (int k = 0; k < K; k++) sum += (double)beta![k] * row[k];
                bias![n] += _layer.Alpha * sum;
            }
            for (int k = 0; k < K; k++) row[k] *= gamma[k];
        });
    }

    /// <summary>
    /// <paramref name="op"/> over <paramref name="data"/>, rows of <paramref name="width"/> values, split into a few
    /// row ranges run in parallel: every op of this pass treats each row on its own, so the values do not depend on
    /// the split.
    /// </summary>
    private static void ForRowRanges(double[] data, int width, Action<Span<double>> op)
    {
        long rows = data.Length / width;
        int parts = (int)Math.Min(rows, Math.Max(1, Environment.ProcessorCount * 4));
        if (parts <= 1)
        {
            op(data);
            return;
        }
        Parallel.For(0, parts, part =>
        {
            long first = rows * part / parts, last = rows * (part + 1) / parts;
            op(data.AsSpan((int)(first * width), (int)((last - first) * width)));
        });
    }

    private static void Collect() => GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);

    private void Load()
    {
        var read = _layer.ReadRows();
        var data = new double[read.Length];
        for (long i = 0; i < read.Length; i++) data[i] = read[i];
        _data = data;
        _rowsLayout = true;
        if (_layer.Bias is not null) _bias = _layer.ReadBias()!.Select(v => (double)v).ToArray();
    }

    private void UseRows()
    {
        if (_rowsLayout) return;
        _data = Transpose(_data!, K, N);
        _rowsLayout = true;
    }

    private void UseB()
    {
        if (!_rowsLayout) return;
        _data = Transpose(_data!, N, K);
        _rowsLayout = false;
    }

    private static double[] Transpose(double[] a, int rows, int columns)
    {
        var t = new double[a.Length];
        Parallel.For(0, columns, c =>
        {
            for (int r = 0; r < rows; r++) t[(long)c * rows + r] = a[(long)r * columns + c];
        });
        return t;
    }

    /// <summary>
    /// Writes the new weight (and bias) as new constants; a MatMul that gained a bias gets an Add after it. With
    /// <paramref name="collectCopies"/> (a model larger than memory) each weight-sized copy is collected as soon as it
    /// is dropped, so an LM head's (32000×2560 on the 2.7B shape) do not pile up on the large-object heap.
    /// </summary>
    public void Write(Rewriter rewriter, bool collectCopies = false)
    {
        if (_data is null)
        {
            Load();
            if (collectCopies) Collect();
            foreach (var op in _ops) op();
            _ops.Clear();
        }
        UseRows();
        var data = _data!;
        _data = null;
        var rows = new float[data.Length];
        for (long i = 0; i < rows.Length; i++) rows[i] = (float)data[i];
        if (collectCopies) Collect();
        var weight = rewriter.AddWeight(_layer.WeightFromRows(rows), _layer.Weight.Name);
        _layer.UseWeight(rewriter, weight);
        if (_bias is null) return;
        var biasType = _layer.Bias?.Const?.ElementType ?? _layer.WeightTensor.ElementType;
        var biasTensor = TensorConversions.FromFloats(biasType, _bias.Select(v => (float)v).ToArray(), [N]);
        var node = _layer.Node;
        if (node.OpType == "Conv")
        {
            // A patch embedding with a bias (one without stays without: its columns are rotated, no bias is created).
            rewriter.ReplaceInput(node, 2, rewriter.AddWeight(biasTensor, _layer.Bias!.Name));
            return;
        }
        if (node.OpType == "Gemm")
        {
            var c = rewriter.AddWeight(biasTensor, _layer.Bias?.Name ?? $"{node.Name}_bias");
            if (node.Inputs.Count > 2) rewriter.ReplaceInput(node, 2, c);
            else rewriter.SetInput(node, 2, c);
            node.SetAttribute(Attribute.Float("beta", 1f));
            return;
        }
        // A MatMul (no bias in the view) whose input had a β folded in: y ← y + b.
        var output = node.Outputs[0]!;
        var uses = output.Uses.ToList(); // before the Add below becomes a reader
        var add = new Node("Add", [output, rewriter.AddWeight(biasTensor, $"{output.Name}_rotate_bias")], name: rewriter.FreshName($"{node.Name ?? "MatMul"}_bias"));
        add.Outputs[0]!.Name = rewriter.FreshName($"{output.Name}_biased");
        add.Outputs[0]!.Type = output.Type;
        bool wasOutput = output.IsGraphOutput;
        rewriter.InsertAfter(node, add);
        foreach (var use in uses) rewriter.SetInput(use.Node, use.InputIndex, add.Outputs[0]);
        if (wasOutput) rewriter.TakeOverGraphOutput(output, add.Outputs[0]!);
    }
}
