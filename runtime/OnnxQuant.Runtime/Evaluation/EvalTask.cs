namespace OnnxQuant.Runtime.Evaluation;

/// <summary>What <see cref="ModelEvaluator"/> measures besides the output errors it always reports.</summary>
public enum EvalTask
{
    /// <summary>Output errors only (SQNR, cosine, max abs error).</summary>
    Compare,

    /// <summary>Top-1 of the first output ([1, C] per sample) against class ids, and agreement between the models.</summary>
    Classify,

    /// <summary>Greedy CTC decoding of the first output ([1, T, C]) and exact match against one label per line.</summary>
    Ctc,

    /// <summary>
    /// Reconstruction: PSNR of the first output (of the last model, with <see cref="EvalOptions.Then"/>) against the
    /// first input, images clipped to [0, 1], mean over samples of the per-sample PSNR.
    /// </summary>
    Psnr,
}
