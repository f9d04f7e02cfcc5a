using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// Activation quantizers decided by a pass before <see cref="InsertQdqPass"/>, which uses them as they are instead of
/// a calibrated range: the per-tensor scale and integer zero point that a reparameterization made exact
/// (<c>repq-vit</c>: after folding r₁, r₂ the layer-wise quantizer gives the channel-wise codes only with exactly
/// s̃ and z̃), and tensors that are already quantized in float form (the log√2 quantizer's output), which get no
/// Q/DQ of their own while the node reading them is still quantized. Kept as a pass analysis, so it survives a later
/// calibrate step.
/// </summary>
public sealed class PinnedActivations
{
    /// <summary>One pinned quantizer: scale, zero point and the code width it was computed for.</summary>
    public readonly record struct Pin(float Scale, int ZeroPoint, int Bits);

    private readonly Dictionary<Value, Pin> _pins = [];
    private readonly HashSet<Value> _quantized = [];

    public IReadOnlyDictionary<Value, Pin> Pins => _pins;

    /// <summary>Tensors that are quantized already (in float ops) and must not get a Q/DQ pair.</summary>
    public IReadOnlySet<Value> AlreadyQuantized => _quantized;

    public void SetPin(Value tensor, Pin pin) => _pins[tensor] = pin;

    public void MarkQuantized(Value tensor) => _quantized.Add(tensor);

    /// <summary>The analysis of <paramref name="context"/>, created when absent.</summary>
    public static PinnedActivations Of(PassContext context)
    {
        if (context.GetAnalysis<PinnedActivations>() is { } existing) return existing;
        var created = new PinnedActivations();
        context.SetAnalysis(created);
        return created;
    }
}
