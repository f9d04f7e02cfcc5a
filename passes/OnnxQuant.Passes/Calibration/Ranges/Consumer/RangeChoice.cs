namespace OnnxQuant.Passes.Calibration.Ranges.Consumer;

/// <summary>How <c>calibrate</c> turns each tensor's statistics into the range insert-qdq uses.</summary>
public enum RangeChoice
{
    /// <summary>The calibrate step's <c>method</c>, the same for every tensor.</summary>
    Method,

    /// <summary>Per tensor, the candidate range with the least output error of the layers reading it (<see cref="ConsumerRangeChooser"/>).</summary>
    ConsumerMse,
}
