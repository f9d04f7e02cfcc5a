using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.LinearLayers;

/// <summary>
/// A node read as the linear layer y = x·B + b with a constant weight, B as K×N per group — the one reading of
/// MatMul, Gemm and Conv that every quantizer and weight transform uses:
/// <list type="bullet">
/// <item>MatMul with a constant [K, N] weight (B = W), or a batched [G…, K, N] one (one K×N matrix per batch: no
/// single output-channel axis).</item>
/// <item>Gemm (transA = 0 only): B = W ([K, N]) or Wᵀ with transB ([N, K] stored); <see cref="Alpha"/> scales x·B and
/// <see cref="Beta"/> the bias C, as written in the node (the view does not fold them).</item>
/// <item>Conv with W [M, C/g, kh, kw…] and g groups: per group B is (C/g·kh·kw) × (M/g), the im2col form; the bias
/// is the optional input B [M].</item>
/// </list>
/// Rows (<see cref="ReadRows"/>) are the same weights with one row per output channel ([Groups·N, K], Bᵀ stacked by
/// group), which is how every rounder and per-channel scale reads a weight. Replacing the weight
/// (<see cref="ReplaceWeight"/>) makes a new constant and never changes a shared one in place; a weight read by
/// nodes outside the edit is refused (<see cref="SharingConflict"/>). ConvTranspose is not a linear layer of this
/// form (its weight is [C, M/g, k…] scattered into the output) and is not read.
/// </summary>
public sealed class LinearLayer
{
    private LinearLayer(Node node, Value weight, int groups, int k, int n, bool transB, float alpha, float beta,
        Value? bias, int outputChannelAxis, int batchDims)
    {
        Node = node;
        Weight = weight;
        Groups = groups;
        K = k;
        N = n;
        TransB = transB;
        Alpha = alpha;
        Beta = beta;
        Bias = bias;
        OutputChannelAxis = outputChannelAxis;
        _rows = AxisRows.Of(weight.Const!.Dims, outputChannelAxis < 0 ? weight.Const!.Rank - 1 : outputChannelAxis, batchDims);
    }

    private readonly AxisRows _rows;

    /// <summary>The MatMul, Gemm or Conv.</summary>
    public Node Node { get; }

    /// <summary>The constant weight input (input 1), as stored.</summary>
    public Value Weight { get; }

    public Tensor WeightTensor => Weight.Const!;

    /// <summary>Conv's group count, a batched MatMul's batch count, else 1.</summary>
    public int Groups { get; }

    /// <summary>Rows of B per group (the reduction length: C/g·kh·kw for Conv).</summary>
    public int K { get; }

    /// <summary>Columns of B per group (output channels per group).</summary>
    public int N { get; }

    public int OutputChannels => Groups * N;

    /// <summary>Gemm's transB: the weight is stored [N, K].</summary>
    public bool TransB { get; }

    /// <summary>Gemm's alpha (1 for MatMul and Conv): y = Alpha·x·B + Beta·C.</summary>
    public float Alpha { get; }

    /// <summary>Gemm's beta (1 for MatMul and Conv).</summary>
    public float Beta { get; }

    /// <summary>Gemm's C or Conv's B as written in the node (not scaled by <see cref="Beta"/>); null when absent.</summary>
    public Value? Bias { get; }

    /// <summary>The stored weight's axis with one entry per output channel (MatMul 1, Gemm 1 or 0 with transB, Conv 0);
    /// −1 for a batched MatMul, whose output channels repeat per batch.</summary>
    public int OutputChannelAxis { get; }

    /// <summary>Null when <paramref name="node"/> is a MatMul, Gemm or Conv with a constant floating-point weight
    /// (then <paramref name="layer"/> reads it), else why it is not.</summary>
    public static string? TryRead(Node node, out LinearLayer? layer)
    {
        layer = null;
        if (!node.IsDefaultDomain || node.OpType is not ("MatMul" or "Gemm" or "Conv"))
            return $"{node.OpType} is not a MatMul, Gemm or Conv";
        if (node.Inputs.Count < 2 || node.Inputs[0] is null || node.Inputs[1] is not { } w) return "it lacks an input";
        if (w.Const is not { } t) return $"its weight {w} is not a constant";
        if (t.ElementType is not (DataType.Float or DataType.Float16 or DataType.BFloat16 or DataType.Double))
            return $"its weight {w} is {t.ElementType.OnnxName()}, not a floating-point type";
        var d = t.Dims;
        switch (node.OpType)
        {
            case "MatMul":
                if (t.Rank < 2) return $"its weight {w} has rank {t.Rank}";
                long batch = d.Take(t.Rank - 2).Aggregate(1L, (a, b) => a * b);
                layer = new LinearLayer(node, w, (int)batch, (int)d[^2], (int)d[^1], false, 1f, 1f, null,
                    t.Rank == 2 ? 1 : -1, t.Rank - 2);
                return null;
            case "Gemm":
                if (t.Rank != 2) return $"its weight {w} has rank {t.Rank}";
                if (node.GetInt("transA", 0) != 0) return "it is a Gemm with transA = 1";
                bool transB = node.GetInt("transB", 0) != 0;
                layer = new LinearLayer(node, w, 1, (int)d[transB ? 1 : 0], (int)d[transB ? 0 : 1], transB,
                    node.GetFloat("alpha", 1f), node.GetFloat("beta", 1f), node.Input(2), transB ? 0 : 1, 0);
                return null;
            default:
                if (t.Rank < 3) return $"its weight {w} has rank {t.Rank}";
                long group = node.GetInt("group", 1);
                if (group < 1 || d[0] % group != 0) return $"its group {group} does not divide its {d[0]} output channels";
                long k = d.Skip(1).Aggregate(1L, (a, b) => a * b);
                layer = new LinearLayer(node, w, (int)group, (int)k, (int)(d[0] / group), false, 1f, 1f, node.Input(2), 0, 0);
                return null;
        }
    }

    /// <summary>
    /// The weight as rows [OutputChannels, K] (row g·N + n is column n of group g's B), as stored: no alpha. A float32
    /// weight is permuted straight from its (possibly mapped) bytes, one weight-sized copy instead of two, and a mapped
    /// weight's pages are released once read (<see cref="TensorStorage.ReleasePages"/>): a pass that walks a model
    /// larger than memory layer by layer keeps about one layer resident.
    /// </summary>
    public float[] ReadRows()
    {
        var t = WeightTensor;
        var rows = t.ElementType == DataType.Float ? _rows.ToRows(t.AsSpan<float>()) : _rows.ToRows<float>(t.ToFloatArray());
        t.Storage?.ReleasePages();
        return rows;
    }

    /// <summary>Group <paramref name="group"/>'s B as a row-major K×N matrix (no alpha).</summary>
    public float[] ReadB(int group = 0)
    {
        if (group < 0 || group >= Groups) throw new ArgumentOutOfRangeException(nameof(group), group, $"the layer has {Groups} groups.");
        var rows = ReadRows();
        var b = new float[(long)K * N];
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++)
                b[(long)k * N + n] = rows[((long)group * N + n) * K + k];
        return b;
    }

    /// <summary>Values laid out as <see cref="ReadRows"/> ([OutputChannels, K]) back in the stored weight's layout.</summary>
    public T[] RowsToStored<T>(ReadOnlySpan<T> rows) => _rows.ToStored(rows);

    /// <summary>The weight tensor (stored layout, dims and element type) holding <paramref name="rows"/> ([OutputChannels, K]).</summary>
    public Tensor WeightFromRows(ReadOnlySpan<float> rows) =>
        TensorConversions.FromFloats(WeightTensor.ElementType, RowsToStored(rows), WeightTensor.Dims.ToArray());

    /// <summary>
    /// The bias as one value per output channel, <see cref="Beta"/> applied: zeros without a bias; null when the bias is
    /// not a constant that broadcasts as a row (every dim 1 but the last, which is the output channel count or 1).
    /// </summary>
    public float[]? ReadBias()
    {
        int m = OutputChannels;
        if (Bias is null) return new float[m];
        if (Bias.Const is not { } c) return null;
        long count = c.ElementCount;
        if (count != m && count != 1 || c.Dims.Take(Math.Max(0, c.Rank - 1)).Any(x => x != 1)) return null;
        float[] values = c.ToFloatArray();
        return Enumerable.Range(0, m).Select(i => Beta * values[count == 1 ? 0 : i]).ToArray();
    }

    /// <summary>
    /// Null when every reader of the weight shared by <paramref name="layers"/> is one of them (so they can all be given
    /// one new weight), else why not: another node reads it, it is a graph output, or the layers read different weights.
    /// </summary>
    public static string? SharingConflict(IReadOnlyList<LinearLayer> layers)
    {
        if (layers.Count == 0) throw new ArgumentException("No layers.", nameof(layers));
        var weight = layers[0].Weight;
        if (layers.FirstOrDefault(l => !ReferenceEquals(l.Weight, weight)) is { } other)
            return $"{other.Node} reads weight {other.Weight}, not {weight}: the layers changed together must share one weight";
        if (weight.IsAnyGraphOutput) return $"its weight {weight} is a graph output";
        var nodes = layers.Select(l => l.Node).ToHashSet();
        foreach (var use in weight.Uses)
            if (!nodes.Contains(use.Node) || use.InputIndex != 1)
                return $"its weight {weight} is also read by {use.Node} (input {use.InputIndex}), which this edit does not change; " +
                       "change every reader alike or give each its own copy";
        return null;
    }

    /// <summary>
    /// Gives every layer of <paramref name="layers"/> (all reading one weight, and nothing else reading it: see
    /// <see cref="SharingConflict"/>, which this throws on) the new constant <paramref name="weight"/>; the old constant
    /// is removed. The constant is new: the old one is never changed in place.
    /// </summary>
    public static Value ReplaceWeight(Rewriter rewriter, IReadOnlyList<LinearLayer> layers, Tensor weight)
    {
        if (SharingConflict(layers) is { } why) throw new InvalidOperationException($"Cannot replace the weight of {layers[0].Node}: {why}.");
        var old = layers[0].Weight;
        if (!weight.Dims.SequenceEqual(old.Const!.Dims))
            throw new ArgumentException($"The new weight {weight} does not have the shape of {old} {old.Const}.", nameof(weight));
        var replacement = rewriter.AddWeight(weight, old.Name);
        foreach (var layer in layers) rewriter.ReplaceInput(layer.Node, 1, replacement);
        return replacement;
    }

    /// <summary>
    /// Makes this node alone read <paramref name="replacement"/> (e.g. the DequantizeLinear of its quantized weight)
    /// instead of its weight; other readers keep the original, which is removed once nothing reads it.
    /// </summary>
    public void UseWeight(Rewriter rewriter, Value replacement) => rewriter.ReplaceInput(Node, 1, replacement);
}
