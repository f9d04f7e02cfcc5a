using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Quantization.Rounding;

namespace OnnxQuant.Passes.Equivalence.Awq;

/// <summary>
/// One linear layer of an AWQ group, as the following quantize-weights step will see it: its rows ([N, K], one per
/// output channel, as stored), Gemm's alpha (folded into the weight before quantization) and the grid its weight is
/// rounded to (null: the layer stays float there, e.g. an LM head with <c>lm-head: float</c>, so it only takes s).
/// </summary>
internal sealed record AwqLayer(LinearLayer Layer, float[] Rows, float Alpha, WeightGrid? Grid)
{
    public int N => Layer.OutputChannels;
    public int K => Layer.K;

    /// <summary>The weight the quantizer reads once row j of B is multiplied by s_j: the product in float, then in
    /// the stored type (float16 weights are stored rounded), then times alpha, as quantize-weights folds it.</summary>
    public float[] ScaledForQuantizer(float[] s)
    {
        var w = new float[Rows.Length];
        bool half = Layer.WeightTensor.ElementType == DataType.Float16;
        for (int n = 0; n < N; n++)
            for (int j = 0; j < K; j++)
            {
                float v = Rows[(long)n * K + j] * s[j];
                if (half) v = (float)(Half)v;
                w[(long)n * K + j] = Alpha == 1f ? v : v * Alpha;
            }
        return w;
    }
}
