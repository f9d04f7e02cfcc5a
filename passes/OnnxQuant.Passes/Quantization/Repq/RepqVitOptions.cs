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
}
