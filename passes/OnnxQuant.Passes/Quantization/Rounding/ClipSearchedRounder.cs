using OnnxQuant.Passes.LinearLayers;

namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// quantize-weights' <c>clip-search</c>: each block's scale (and zero point) from <see cref="WeightClipSearch"/> (the
/// block's range shrunk by f = 1 … 0.5 in steps of 1/40, the least eᵀ·XᵀX·e kept, or the least Σe² where
/// <paramref name="hessian"/> gives none), then <paramref name="inner"/> rounds on those scales. Scales given by the
/// caller (widened for a bias) are kept as they are.
/// </summary>
internal sealed class ClipSearchedRounder(IWeightRounder inner, Func<LinearLayer?, double[]?> hessian, PassContext context) : IWeightRounder
{
    public string Name => inner.Name;

    public BlockQuantizedRows Round(ReadOnlySpan<float> rows, int rowCount, int columns, WeightGrid grid, LinearLayer? layer, BlockScales? scales = null)
    {
        if (scales is null && !grid.PerTensor)
        {
            var h = hessian(layer);
            context.Count(h is null ? "clip-search-mse" : "clip-search-output");
            scales = WeightClipSearch.Search(rows, rowCount, columns, grid, h);
        }
        return inner.Round(rows, rowCount, columns, grid, layer, scales);
    }
}
