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
    private readonly double[] _b; // K×N row-major: row k is input channel k
    private double[]? _bias;      // effective per-output bias (Gemm's β applied); null: none and none needed

    public RotationLayerEdit(LinearLayer layer)
    {
        _layer = layer;
        K = layer.K;
        N = layer.N;
        var rows = layer.ReadRows();
        _b = new double[(long)K * N];
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++)
                _b[(long)k * N + n] = rows[(long)n * K + k];
        if (layer.Bias is not null) _bias = layer.ReadBias()!.Select(v => (double)v).ToArray();
    }

    public Node Node => _layer.Node;
    public int K { get; }
    public int N { get; }

    /// <summary>x = x̂·diag(γ) + β: B ← diag(γ)·B, b ← b + α·β·B (β may be null).</summary>
    public void FoldInputAffine(float[] gamma, float[]? beta)
    {
        if (beta is not null && beta.Any(v => v != 0))
        {
            _bias ??= new double[N];
            for (int k = 0; k < K; k++)
                for (int n = 0; n < N; n++)
                    _bias[n] += _layer.Alpha * (double)beta[k] * _b[(long)k * N + n];
        }
        for (int k = 0; k < K; k++)
            for (int n = 0; n < N; n++)
                _b[(long)k * N + n] *= gamma[k];
    }

    /// <summary>Applies <paramref name="op"/> to every row of B (length N) and to the bias: B ← B·M, b ← b·M.</summary>
    public void TransformColumns(Action<Span<double>> op)
    {
        op(_b);
        if (_bias is not null) op(_bias);
    }

    /// <summary>Applies <paramref name="op"/> to every column of B (length K), i.e. B ← Mᵀ·B when op is x ← x·M.</summary>
    public void TransformRows(Action<Span<double>> op)
    {
        var t = new double[_b.Length];
        for (int k = 0; k < K; k++)
            for (int n = 0; n < N; n++)
                t[(long)n * K + k] = _b[(long)k * N + n];
        op(t);
        for (int k = 0; k < K; k++)
            for (int n = 0; n < N; n++)
                _b[(long)k * N + n] = t[(long)n * K + k];
    }

    /// <summary>Writes the new weight (and bias) as new constants; a MatMul that gained a bias gets an Add after it.</summary>
    public void Write(Rewriter rewriter)
    {
        var rows = new float[_b.Length];
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++)
                rows[(long)n * K + k] = (float)_b[(long)k * N + n];
        var weight = rewriter.AddConstant(_layer.WeightFromRows(rows), _layer.Weight.Name);
        _layer.UseWeight(rewriter, weight);
        if (_bias is null) return;
        var biasType = _layer.Bias?.Const?.ElementType ?? _layer.WeightTensor.ElementType;
        var biasTensor = TensorConversions.FromFloats(biasType, _bias.Select(v => (float)v).ToArray(), [N]);
        var node = _layer.Node;
        if (node.OpType == "Conv")
        {
            // A patch embedding with a bias (one without stays without: its columns are rotated, no bias is created).
            rewriter.ReplaceInput(node, 2, rewriter.AddConstant(biasTensor, _layer.Bias!.Name));
            return;
        }
        if (node.OpType == "Gemm")
        {
            var c = rewriter.AddConstant(biasTensor, _layer.Bias?.Name ?? $"{node.Name}_bias");
            if (node.Inputs.Count > 2) rewriter.ReplaceInput(node, 2, c);
            else rewriter.SetInput(node, 2, c);
            node.SetAttribute(Attribute.Float("beta", 1f));
            return;
        }
        // A MatMul (no bias in the view) whose input had a β folded in: y ← y + b.
        var output = node.Outputs[0]!;
        var uses = output.Uses.ToList(); // before the Add below becomes a reader
        var add = new Node("Add", [output, rewriter.AddConstant(biasTensor, $"{output.Name}_rotate_bias")], name: rewriter.FreshName($"{node.Name ?? "MatMul"}_bias"));
        add.Outputs[0]!.Name = rewriter.FreshName($"{output.Name}_biased");
        add.Outputs[0]!.Type = output.Type;
        bool wasOutput = output.IsGraphOutput;
        rewriter.InsertAfter(node, add);
        foreach (var use in uses) rewriter.SetInput(use.Node, use.InputIndex, add.Outputs[0]);
        if (wasOutput) rewriter.TakeOverGraphOutput(output, add.Outputs[0]!);
    }
}
