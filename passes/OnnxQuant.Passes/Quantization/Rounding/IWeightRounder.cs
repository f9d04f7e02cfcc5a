using OnnxQuant.Passes.LinearLayers;

namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// Chooses the integer codes (and scales) of a weight on a given grid. Every pass that quantizes weights
/// (<c>quantize-weights</c>, <c>insert-qdq</c>, <c>insert-dynamic-qdq</c>) rounds through one of these, chosen by the
/// recipe's <c>rounding</c> option (<see cref="WeightRounding"/>): round-to-nearest, GPTQ (error feedback through
/// the layer input's XᵀX); GPTQT's binary coding (<see cref="GptqtRounder"/>) implements this for its integer
/// fallback and adds <see cref="GptqtRounder.RoundBinary"/>.
/// </summary>
public interface IWeightRounder
{
    /// <summary>The name recipes use (<c>rtn</c>).</summary>
    string Name { get; }

    /// <param name="rows">The weight as rows [<paramref name="rowCount"/>, <paramref name="columns"/>], one row per output
    /// channel with the reduction axis K along it (<see cref="LinearLayer.ReadRows"/>).</param>
    /// <param name="layer">The layer the weight belongs to, for rounders that read its calibration statistics; null for
    /// weights that are not a linear layer's (embedding tables).</param>
    /// <param name="scales">Scales and zero points to round to instead of the grid's own (<see cref="WeightGrid.ScalesOf"/>),
    /// e.g. widened for an int32 bias; null: the grid's.</param>
    BlockQuantizedRows Round(ReadOnlySpan<float> rows, int rowCount, int columns, WeightGrid grid, LinearLayer? layer, BlockScales? scales = null);
}
