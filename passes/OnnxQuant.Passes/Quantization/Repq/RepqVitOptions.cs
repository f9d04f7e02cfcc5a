using System.ComponentModel;

namespace OnnxQuant.Passes.Quantization.Repq;

/// <summary>Options of <see cref="RepqVitPass"/>.</summary>
public sealed class RepqVitOptions
{
    [Description("code width 2..8 of the post-LayerNorm activation quantizers (uint8 storage, asymmetric); the insert-qdq step after it must quantize them to the same width (activation-type uint8, activation-bits)")]
    public int Bits { get; set; } = 8;

    [Description("log√2 quantizer (2..8 bits) on Softmax outputs that only MatMuls read (attention probabilities), exported as float ops; 0: leave them float")]
    public int SoftmaxBits { get; set; } = 8;

    [Description("balance the channel ranges of attention's q and k (exact: q·diag(β) times (k·diag(1/β))ᵀ, β folded into their projections' weights and biases) before their per-tensor quantizers")]
    public bool QkBalance { get; set; }

    [Description("center each channel of attention's k on its calibrated range, folded into the k projection's bias (exact: Softmax over the keys ignores a constant added to a row of the scores)")]
    public bool CenterKeys { get; set; }

    [Description("rotate every head's q, k and V channels by a seeded randomized Hadamard (and the out-projection's input back), folded into the weights: exact, and per-tensor low-bit q, k, V and attention outputs lose less to a few large channels")]
    public bool HeadRotation { get; set; }

    [Description("choose q's and k's per-tensor ranges together for the least error of q·kᵀ on the calibration data (not each tensor's own error), pinned for insert-qdq at 'bits'")]
    public bool QkRangeSearch { get; set; }
}
