namespace OnnxQuant.Passes;

/// <summary>
/// Which calibration statistics stay valid when a pass changes the graph (<see cref="StatisticsUse.Preserves"/>),
/// like the preserved analyses of MLIR's pass manager. Statistics describe what a value computes in the float model
/// as calibrated; a pass that changes what some value computes, or replaces values by new ones, makes the statistics
/// of those values stale. A pass that reports no change invalidates nothing.
/// </summary>
public enum StatisticsPreservation
{
    /// <summary>A change may alter or replace any value: every statistic is invalidated (the default, the safe one).</summary>
    None,

    /// <summary>Changes leave every value computing what it did (the pass only annotates, e.g. types and shapes).</summary>
    All,

    /// <summary>
    /// The statistics of the values the pass names at run time (<see cref="PassContext.PreserveStatistics"/>) stay
    /// valid, the rest are invalidated. At load time a later reader is allowed; reading a value the pass did not
    /// preserve fails when it happens. <c>insert-qdq</c> preserves the float tensors it quantizes: they still hold
    /// the float values, now followed by Q/DQ.
    /// </summary>
    Declared,
}
