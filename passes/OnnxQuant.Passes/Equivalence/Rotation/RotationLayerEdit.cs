using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Equivalence.Rotation;

/// <summary>
/// The edits the rotate pass makes to one linear layer y = α·x·B + b, gathered in double precision and written once:
/// scalings and rotations of B's rows (input side, <see cref="TransformRows"/>) and of its columns with the bias
/// (output side, <see cref="TransformColumns"/>). Row and column transforms commute, so their order does not matter;
/// folding a norm's γ and β (<see cref="FoldInputAffine"/>) must come first, as it reads B as it was.
/// </summary>
internal sealed class RotationLayerEdit
{
    private readonly LinearLayer _layer;
    // The weight, either as rows [N, K] (row n = output channel n: input-side ops act on contiguous rows) or as B [K, N]
    // (output-side ops act on contiguous rows); transposed only when the next op needs the other layout.
    private double[] _data;
    private bool _rowsLayout = true;
    private double[]? _bias;      // effective per-output bias (Gemm's β applied); null: none and none needed

    public RotationLayerEdit(LinearLayer layer)
    {
        _layer = layer;
        K = layer.K;
        N = layer.N;
        var rows = layer.ReadRows();
        _data = new double[rows.Length];
        for (long i = 0; i < rows.Length; i++) _data[i] = rows[i];
        if (layer.Bias is not null) _bias = layer.ReadBias()!.Select(v => (double)v).ToArray();
    }

    public Node Node => _layer.Node;
    public int K { get; }
    public int N { get; }

    /// <summary>x = x̂·diag(γ) + β: B ← diag(γ)·B, b ← b + α·β·B (β may be null).</summary>
    public void FoldInputAffine(float[] gamma, float[]? beta)
    {
        UseRows();
        bool shift = beta is not null && beta.Any(v => v != 0);
        if (shift) _bias ??= new double[N];
        for (int n = 0; n < N; n++)
        {
            var row = _data.AsSpan((int)((long)n * K), K);
            if (shift)
            {
                double sum = 0;
                for (int k = 0; k < K; k++) sum += (double)beta![k] * row[k];
                _bias![n] += _layer.Alpha * sum;
            }
            for (int k = 0; k < K; k++) row[k] *= gamma[k];
        }
    }

    /// <summary>Applies <paramref name="op"/> to every row of B (length N) and to the bias: B ← B·M, b ← b·M.</summary>
    public void TransformColumns(Action<Span<double>> op)
    {
        UseB();
        op(_data);
        if (_bias is not null) op(_bias);
    }

    /// <summary>Applies <paramref name="op"/> to every column of B (length K), i.e. B ← Mᵀ·B when op is x ← x·M.</summary>
    public void TransformRows(Action<Span<double>> op)
    {
        UseRows();
        op(_data);
    }

    private void UseRows()
    {
        if (_rowsLayout) return;
        _data = Transpose(_data, K, N);
        _rowsLayout = true;
    }

    private void UseB()
    {
        if (!_rowsLayout) return;
        _data = Transpose(_data, N, K);
        _rowsLayout = false;
    }

    private static double[] Transpose(double[] a, int rows, int columns)
    {
        var t = new double[a.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                t[(long)c * rows + r] = a[(long)r * columns + c];
        return t;
    }

    /// <summary>Writes the new weight (and bias) as new constants; a MatMul that gained a bias gets an Add after it.</summary>
    public void Write(Rewriter rewriter)
    {
        UseRows();
        var rows = new float[_data.Length];
        for (long i = 0; i < rows.Length; i++) rows[i] = (float)_data[i];
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
