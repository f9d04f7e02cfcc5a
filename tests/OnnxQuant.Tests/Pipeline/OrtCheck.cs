using Microsoft.ML.OnnxRuntime;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;

namespace OnnxQuant.Tests.Pipeline;

/// <summary>Runs a model with one float input and one float output in ONNX Runtime, graph optimizations off.</summary>
internal static class OrtCheck
{
    public static float[] Run(Model model, float[] input, long[] shape)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(OnnxWriter.ToBytes(model), options);
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, [model.Graph.Inputs[0].Name!], [value], [model.Graph.Outputs[0].Name!]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }
}
