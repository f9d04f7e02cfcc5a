using OnnxQuant.Runtime;

namespace OnnxQuant.Runtime.Calibration;

/// <summary>How <see cref="CalibrationCollector"/> runs the model.</summary>
public sealed record CollectorOptions
{
    /// <summary>ONNX Runtime settings. Graph optimizations stay off by default: ORT's fusions would remove the very
    /// tensors being observed.</summary>
    public RunnerOptions Runner { get; init; } = RunnerOptions.Default;

    /// <summary>
    /// Most bytes of observed tensors to expose in one model run (per batch); null for no limit. When the tensors of
    /// one batch exceed it, they are split into chunks and the data is passed over once per chunk; the statistics
    /// are identical, since each tensor still sees every batch in the same order.
    /// </summary>
    public long? MemoryBudgetBytes { get; init; }

    /// <summary>Called after batches (at most every <see cref="ProgressInterval"/>) and at the end of each pass.</summary>
    public Action<CalibrationProgress>? Progress { get; init; }

    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    public Action<string>? Log { get; init; }

    /// <summary>Threads updating statistics of a batch's tensors at once (each tensor on one thread); all cores by default,
    /// one less while overlapping with ONNX Runtime.</summary>
    public int ObserverThreads { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// Observe one batch's outputs on other threads while ONNX Runtime runs the next (statistics are identical either
    /// way). Off under a <see cref="MemoryBudgetBytes"/>, which then bounds what one run exposes. On by default with
    /// four cores or more: it pays only when a core is free, and on a busy two-core machine the hand-offs between
    /// threads cost more than they save (measured: about 10 % more wall time and 20 % more CPU time).
    /// </summary>
    public bool Overlap { get; init; } = Environment.ProcessorCount >= 4;

    /// <summary>
    /// Run the model whole or one block at a time (<see cref="Blocks.BlockwiseCollector"/>: peak memory about one
    /// block's weights plus the calibration batch's activations at a cut; the statistics are the same). Off by default.
    /// </summary>
    public BlockWiseMode BlockWise { get; init; } = BlockWiseMode.Off;

    /// <summary>With <see cref="BlockWiseMode.Auto"/>: block-wise when the model's weights are more than this many bytes.</summary>
    public long BlockWiseAboveBytes { get; init; } = 2L << 30;

    /// <summary>Block-wise: most weight bytes per block (a stretch between two cuts that holds more is a block of its own).</summary>
    public long BlockBytes { get; init; } = 64L << 20;

    /// <summary>Block-wise: activations carried between blocks (all batches together) beyond this go to a temporary folder.</summary>
    public long SpillBytes { get; init; } = 256L << 20;

    public CancellationToken Cancellation { get; init; }

    /// <summary>
    /// Block-wise only: called after each block with the statistics that block completed (the tensors it computed,
    /// and the graph inputs after the first block), which are then handed over: the collector keeps no reference to
    /// them and they are absent from the statistics it returns. A pass that calibrates for itself (AWQ) consumes
    /// one block's statistics at a time this way, so they never all exist at once. The callback may change the nodes
    /// of blocks that have run: each block's session is built from the IR when that block starts. Not called on a
    /// whole-model run (the caller then gets everything in the returned statistics).
    /// </summary>
    public Action<CompletedBlock>? AfterBlock { get; init; }

    /// <summary>
    /// Called with every batch of every observed tensor right after its statistics took it, the bytes straight from ONNX
    /// Runtime's buffer (or the feed), valid only during the call; on a whole-model and a block-wise run alike. Each
    /// tensor sees its batches one at a time and in data order, as its statistics do, possibly on an observer thread
    /// (different tensors at once). For what a pass keeps that is not a mergeable statistic (smooth-quant's sampled
    /// activation rows), so that it too runs block by block. Tensors that are not floating-point are not passed.
    /// </summary>
    public ObservedBatchVisitor? Tap { get; init; }
}

/// <summary>One batch of an observed tensor (<see cref="CollectorOptions.Tap"/>): <paramref name="batchSamples"/> samples of the
/// data's <paramref name="dataSamples"/>; <paramref name="data"/> is valid only during the call.</summary>
public delegate void ObservedBatchVisitor(string name, OnnxQuant.Ir.DataType elementType, ReadOnlySpan<long> dims, ReadOnlySpan<byte> data,
    long batchSamples, long dataSamples);

/// <summary>What <see cref="CollectorOptions.AfterBlock"/> is given: block <paramref name="Index"/> of
/// <paramref name="Count"/> has run, over <paramref name="Nodes"/>, and <paramref name="Statistics"/> are final.</summary>
public sealed record CompletedBlock(int Index, int Count, IReadOnlyList<OnnxQuant.Ir.Node> Nodes, OnnxQuant.Runtime.Calibration.Statistics.CalibrationStatistics Statistics);
