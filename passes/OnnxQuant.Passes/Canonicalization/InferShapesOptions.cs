using System.ComponentModel;

namespace OnnxQuant.Passes.Canonicalization;

/// <summary>Options of <see cref="InferShapesPass"/> (<c>infer-shapes</c>).</summary>
public sealed class InferShapesOptions
{
    [Description("Fix graph input shapes before inferring, one entry per input: name=1,3,48,320 (a name for a symbolic size).")]
    public List<string> Shapes { get; set; } = [];

    [Description("Fill what static inference leaves unknown by running ONNX Runtime on a seeded sample (sizes only when the inputs are static: see shapes).")]
    public bool RunOrt { get; set; }

    [Description("Fail when inferred types contradict types the model declares (by default the model's are kept and counted).")]
    public bool FailOnConflict { get; set; }
}
