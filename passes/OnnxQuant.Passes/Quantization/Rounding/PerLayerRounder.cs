using OnnxQuant.Passes.LinearLayers;

namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// Rounds the layers <paramref name="uses"/> accepts with <paramref name="preferred"/> and the others with
/// <paramref name="fallback"/>, counting the fallbacks (<c>rounding-fallback</c>): insert-qdq's <c>rounding: gptq</c>
/// rounds MatMul/Gemm weights with GPTQ and Conv weights, whose im2col input has no calibrated XᵀX, to nearest.
/// </summary>
internal sealed class PerLayerRounder(IWeightRounder preferred, IWeightRounder fallback, Func<LinearLayer, bool> uses, PassContext context) : IWeightRounder
{
    public string Name => preferred.Name;

    public BlockQuantizedRows Round(ReadOnlySpan<float> rows, int rowCount, int columns, WeightGrid grid, LinearLayer? layer, BlockScales? scales = null)
    {
        if (layer is not null && uses(layer)) return preferred.Round(rows, rowCount, columns, grid, layer, scales);
        context.Count("rounding-fallback");
        return fallback.Round(rows, rowCount, columns, grid, layer, scales);
    }
}
