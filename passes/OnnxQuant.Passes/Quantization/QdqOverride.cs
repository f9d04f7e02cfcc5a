using System.ComponentModel;
using OnnxQuant.Passes.Calibration.Ranges;

namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// One entry of <c>insert-qdq</c>'s <c>overrides</c> list: settings for the tensors whose name matches
/// <see cref="Tensors"/>, or for the nodes whose name matches <see cref="Nodes"/> (their inputs, weights and quantized
/// outputs). Unset settings keep the pass's; later entries win over earlier ones. In a recipe:
/// <code>
/// - insert-qdq:
///     overrides:
///       - {nodes: "*attn*", activation-type: int16}
///       - {tensors: "logits*", exclude: true}
///       - {nodes: "/head/*", weight-granularity: per-tensor, method: minmax}
/// </code>
/// </summary>
public sealed class QdqOverride : IOptionRecord
{
    [Description("node-name glob (* and ?): these nodes' inputs, weights and outputs")]
    public string? Nodes { get; set; }

    [Description("tensor-name glob (* and ?): activations or weights with these names")]
    public string? Tensors { get; set; }

    [Description("leave the matched nodes, or the nodes reading the matched tensors, in float")]
    public bool Exclude { get; set; }

    [Description("integer type of the matched activations (int16/uint16 need opset 21 and are not faster on CPU)")]
    public QdqActivationType? ActivationType { get; set; }

    [Description("emulated width 2..8 of the matched activations (codes clipped to 2^b values)")]
    public int? ActivationBits { get; set; }

    [Description("symmetric ranges for the matched activations")]
    public bool? SymmetricActivations { get; set; }

    [Description("weight scales of the matched nodes or weights: per-channel or per-tensor")]
    public QdqWeightGranularity? WeightGranularity { get; set; }

    [Description("range method for the matched activations (the calibrate pass must have kept histograms: method percentile, entropy or mse)")]
    public CalibrationMethod? Method { get; set; }

    [Description("percent of values kept when method is percentile")]
    public double? Percentile { get; set; }

    /// <inheritdoc/>
    public string? Problem()
    {
        if ((Nodes is null) == (Tensors is null)) return "An override names either 'nodes: GLOB' or 'tensors: GLOB' (one of them).";
        if (Percentile is { } p && p is <= 0 or > 100) return $"'percentile' is in (0, 100]; {p} is not.";
        if (Percentile is not null && Method is not (null or CalibrationMethod.Percentile)) return "'percentile' goes with 'method: percentile'.";
        if (!Exclude && ActivationType is null && ActivationBits is null && SymmetricActivations is null && WeightGranularity is null && Method is null && Percentile is null)
            return "This override changes nothing: give exclude, activation-type, activation-bits, symmetric-activations, weight-granularity, method or percentile.";
        return null;
    }
}
