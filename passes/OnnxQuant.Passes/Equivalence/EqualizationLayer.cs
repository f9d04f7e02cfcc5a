using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Equivalence;

/// <summary>
/// A linear layer's weight rows and bias held in double while <see cref="EqualizePass"/> iterates, so every sweep
/// scales the exact values and the result is rounded to the stored type once. Rows are
/// <see cref="LinearLayer.ReadRows"/>'s [output channel, K]; an input channel c of the layer owns, in every row o of
/// its group, the <see cref="Span"/> entries starting at (c mod <see cref="InputChannelsPerGroup"/>)·Span.
/// </summary>
internal sealed class EqualizationLayer
{
    public EqualizationLayer(LinearLayer layer, float[] bias)
    {
        Layer = layer;
        Rows = layer.ReadRows().Select(v => (double)v).ToArray();
        Bias = bias.Select(v => (double)v).ToArray();
        // Conv: K = C/g · spatial and an input channel owns one spatial block; MatMul/Gemm: K input channels of 1.
        InputChannelsPerGroup = layer.Node.OpType == "Conv" ? (int)layer.WeightTensor.Dims[1] : layer.K;
        Span = layer.K / InputChannelsPerGroup;
        OutputDivisor = Enumerable.Repeat(1.0, layer.OutputChannels).ToArray();
    }

    public LinearLayer Layer { get; }
    public double[] Rows { get; }
    public double[] Bias { get; }
    public int InputChannelsPerGroup { get; }
    public int Span { get; }
    public int InputChannels => Layer.Groups * InputChannelsPerGroup;
    public int OutputChannels => Layer.OutputChannels;
    public bool Changed { get; set; }

    /// <summary>What each output channel has been divided by so far (the product of every sweep's s).</summary>
    public double[] OutputDivisor { get; }

    /// <summary>True once <see cref="Bias"/> differs from the bias as stored (or the layer had none and needs one).</summary>
    public bool BiasChanged { get; private set; }

    /// <summary>max |W| of output channel <paramref name="o"/>'s row.</summary>
    public double OutputRange(int o)
    {
        double r = 0;
        int k = Layer.K;
        for (int j = 0; j < k; j++) r = Math.Max(r, Math.Abs(Rows[(long)o * k + j]));
        return r;
    }

    /// <summary>max |W| over every weight that input channel <paramref name="c"/> multiplies.</summary>
    public double InputRange(int c)
    {
        double r = 0;
        foreach (var i in InputEntries(c)) r = Math.Max(r, Math.Abs(Rows[i]));
        return r;
    }

    public void DivideOutput(int o, double s)
    {
        int k = Layer.K;
        for (int j = 0; j < k; j++) Rows[(long)o * k + j] /= s;
        Bias[o] /= s;
        OutputDivisor[o] *= s;
        Changed = true;
    }

    /// <summary>Subtracts <paramref name="c"/> from output channel <paramref name="o"/>'s bias (high-bias absorption).</summary>
    public void ShiftBias(int o, double c)
    {
        Bias[o] -= c;
        Changed = BiasChanged = true;
    }

    /// <summary>
    /// Adds to every output channel's bias what the layer's weights make of a constant <paramref name="c"/> on input
    /// channel <paramref name="channel"/> (times Gemm's alpha): the layer's output for x + c is then what it was for x.
    /// A Conv's weight sums over the kernel, which is exact only without padding (the caller checks).
    /// </summary>
    public void AbsorbInputShift(int channel, double c)
    {
        int group = channel / InputChannelsPerGroup, local = channel % InputChannelsPerGroup, n = Layer.N, k = Layer.K;
        for (int o = group * n; o < (group + 1) * n; o++)
        {
            double sum = 0;
            for (int j = 0; j < Span; j++) sum += Rows[(long)o * k + local * Span + j];
            Bias[o] += Layer.Alpha * c * sum;
        }
        Changed = BiasChanged = true;
    }

    public void MultiplyInput(int c, double s)
    {
        foreach (var i in InputEntries(c)) Rows[i] *= s;
        Changed = true;
    }

    /// <summary>Indices into <see cref="Rows"/> of the weights input channel <paramref name="c"/> multiplies.</summary>
    private IEnumerable<long> InputEntries(int c)
    {
        int group = c / InputChannelsPerGroup, local = c % InputChannelsPerGroup, n = Layer.N, k = Layer.K;
        for (int o = group * n; o < (group + 1) * n; o++)
            for (int j = 0; j < Span; j++)
                yield return (long)o * k + local * Span + j;
    }

    /// <summary>
    /// Writes the weight (and, with <paramref name="writeBias"/> or after a bias shift, the bias) as new constants; the
    /// old ones are dropped once unused. A layer without a bias keeps none unless a shift gave it one: a zero bias
    /// divided by s stays zero.
    /// </summary>
    public void Write(Rewriter rewriter, bool writeBias)
    {
        var old = Layer.Weight;
        LinearLayer.ReplaceWeight(rewriter, [Layer], Layer.WeightFromRows(Rows.Select(v => (float)v).ToArray()));
        rewriter.RemoveConstantIfUnused(old);
        var node = Layer.Node;
        if (Layer.Bias is null && BiasChanged)
        {
            // Only Conv and Gemm (beta ≠ 0) are given a shift without a bias (EqualizePass checks): input 2 is free.
            float b = Layer.Beta == 0 ? 1 : Layer.Beta;
            var added = rewriter.AddWeight(TensorConversions.FromFloats(Layer.WeightTensor.ElementType,
                Bias.Select(v => (float)(v / b)).ToArray(), [Bias.Length]), $"{node.Name ?? node.OpType}_bias");
            rewriter.SetInput(node, 2, added);
            return;
        }
        if (!(writeBias || BiasChanged) || Layer.Bias is not { } oldBias) return;
        // The bias as stored is C (Gemm's y adds Beta·C): store Bias/Beta so Beta·C is the scaled bias.
        float beta = Layer.Beta == 0 ? 1 : Layer.Beta;
        var values = Bias.Select(v => (float)(v / beta)).ToArray();
        var type = oldBias.Const?.ElementType ?? Layer.WeightTensor.ElementType;
        var dims = oldBias.Const is { } c && c.ElementCount == values.Length ? c.Dims.ToArray() : [values.Length];
        var bias = rewriter.AddWeight(TensorConversions.FromFloats(type, values, dims), oldBias.Name);
        rewriter.SetInput(node, 2, bias);
        rewriter.RemoveConstantIfUnused(oldBias);
    }
}
