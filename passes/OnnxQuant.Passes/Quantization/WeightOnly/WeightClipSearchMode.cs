namespace OnnxQuant.Passes.Quantization.WeightOnly;

/// <summary>quantize-weights' <c>clip-search</c>: how each block's range is chosen.</summary>
public enum WeightClipSearchMode
{
    /// <summary>The block's full range (min/max or max|w|).</summary>
    Off,

    /// <summary>The shrunk range with the least weight error Σe² (no data needed).</summary>
    Mse,

    /// <summary>The shrunk range with the least layer-output error eᵀ·XᵀX·e, XᵀX of the layer input from a calibrate
    /// step before (embedding tables: Σe²).</summary>
    Output,
}
