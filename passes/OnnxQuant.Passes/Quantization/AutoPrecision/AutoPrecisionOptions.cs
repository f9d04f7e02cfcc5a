using System.ComponentModel;

namespace OnnxQuant.Passes.Quantization.AutoPrecision;

/// <summary>Options of <see cref="AutoPrecisionPass"/>.</summary>
public sealed class AutoPrecisionOptions
{
    [Description("what must hold on the held-out samples: sqnr=DB (output SQNR vs float), top1-drop=POINTS (classify, or CTC with keys; against labels, else agreement with float), psnr-drop=DB (reconstruction)")]
    public string Target { get; set; } = "sqnr=30";

    [Description("estimated latency budget as a ratio to the float model's (from the kernel cost table); 0: none")]
    public double MaxLatency { get; set; }

    [Description("stop the search after this many minutes with the best model so far")]
    public double MaxMinutes { get; set; } = 5;

    [Description("calibration samples held out (the last ones) to measure on; calibrate uses the others")]
    public int Holdout { get; set; } = 8;

    [Description("nodes tried per round (int16 and float each), those of lowest local SQNR")]
    public int Candidates { get; set; } = 4;

    [Description("nodes measured on one model (the lowest local SQNR first, `candidates` at a time) before the search stops for want of a change that gains")]
    public int Scan { get; set; } = 16;

    [Description("the least score gain (dB, or points for top1-drop) a change must bring to be kept")]
    public double MinGain { get; set; } = 0.05;

    [Description("held-out samples each candidate change is screened on (the first ones; a change is kept only after it gains on all of them); 0: all; -1 (default): 2 when the cost table estimates one float run of the model's quantizable ops at 100 ms or more, else all. Top-1 targets always screen on all (a hit rate on a few samples cannot rank small changes)")]
    public int ScreenSamples { get; set; } = -1;

    [Description("labels of the calibration data (as eval --labels), for top1-drop")]
    public string? Labels { get; set; }

    [Description("CTC keys file (as eval --keys): top1-drop then scores CTC exact match")]
    public string? Keys { get; set; }

    [Description("op types to quantize, as insert-qdq's op-types (empty: MatMul, Gemm, Conv)")]
    public List<string> OpTypes { get; set; } = [];

    [Description("integer type of activations every node starts from (as insert-qdq's)")]
    public QdqActivationType ActivationType { get; set; } = QdqActivationType.UInt8;

    [Description("symmetric activation ranges (as insert-qdq's)")]
    public bool SymmetricActivations { get; set; }

    /// <summary>The insert-qdq settings every node starts from.</summary>
    public InsertQdqOptions BaseQuantization() => new()
    {
        OpTypes = [.. OpTypes],
        ActivationType = ActivationType,
        SymmetricActivations = SymmetricActivations,
    };
}
