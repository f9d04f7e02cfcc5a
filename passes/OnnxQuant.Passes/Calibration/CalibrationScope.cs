namespace OnnxQuant.Passes.Calibration;

/// <summary>Which activations calibration observes (the <c>calibrate</c> pass's <c>tensors</c> option).</summary>
public enum CalibrationScope
{
    /// <summary>
    /// Those the passes after the calibrate step request (<see cref="IPass.RequestStatistics"/>; with none, what a
    /// default <c>insert-qdq</c> reads): their result is the same as with <see cref="All"/>, at a fraction of the work
    /// (about half the values of a ViT).
    /// </summary>
    Quantizer,

    /// <summary>Every floating-point activation of the main graph: for statistics kept for other uses (reports,
    /// later passes that quantize other tensors).</summary>
    All,
}
