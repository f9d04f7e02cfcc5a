using System.ComponentModel;

namespace OnnxQuant.Passes.Quantization.Diffusion;

/// <summary>Options of <see cref="InsertTimestepQdqPass"/>.</summary>
public sealed class InsertTimestepQdqOptions
{
    [Description("the denoiser's timestep input (int64/int32/float [b] or scalar); the group is taken from its first element")]
    public string TimestepInput { get; set; } = "t";

    [Description("number of equal-width timestep groups, each with its own activation ranges")]
    public int Groups { get; set; } = 4;

    [Description("T, the number of training timesteps (t in [0, T)); group(t) = min(floor(t / ceil(T / groups)), groups - 1)")]
    public long NumTrainTimesteps { get; set; } = 1000;

    [Description("op types to quantize (MatMul, Gemm); empty: both")]
    public List<string> OpTypes { get; set; } = [];

    [Description("node-name globs (* and ?) whose nodes stay float")]
    public List<string> ExcludeNodes { get; set; } = [];

    [Description("layers whose input depends on no rank >= 3 graph input (timestep/class embedding MLP, adaLN modulation) stay float")]
    public bool ExcludeConditioningPath { get; set; }

    [Description("layers that reach a graph output through no other MatMul/Gemm/Conv (the final projection) stay float")]
    public bool ExcludeOutputLayers { get; set; }

    [Description("one weight scale per output column or per tensor")]
    public QdqWeightGranularity WeightGranularity { get; set; } = QdqWeightGranularity.PerChannel;
}
