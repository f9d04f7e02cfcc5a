using OnnxQuant.Ir;
using OnnxQuant.Runtime;

namespace OnnxQuant.Tests.Support;

/// <summary>Seeded inputs that are valid for each shared model (shapes for free dimensions, the VAD's sample rate).</summary>
public static class SharedModelInputs
{
    public static Dictionary<string, long[]> ShapesFor(string file) => Path.GetFileName(file) switch
    {
        "vit_mnist.onnx" => new() { ["pixel_values"] = [2, 1, 28, 28] },
        "stories260k.onnx" => new() { ["input_ids"] = [1, 16] },
        "ppocr_v4_rec.onnx" => new() { ["x"] = [1, 3, 48, 320] },
        "taef2_encoder.onnx" => new() { ["image"] = [1, 3, 64, 64] },
        "taef2_decoder.onnx" => new() { ["latent"] = [1, 32, 8, 8] },
        "silero_vad_legacy.onnx" => new() { ["input"] = [1, 512], ["h"] = [2, 1, 64], ["c"] = [2, 1, 64] },
        _ => new(),
    };

    public static Dictionary<string, Tensor> For(string file, Model model, int seed = 0)
    {
        var feeds = SampleInputs.ForModel(model, seed, ShapesFor(file));
        if (Path.GetFileName(file) == "silero_vad_legacy.onnx") feeds["sr"] = Tensor.FromInt64s([16000]);
        return feeds;
    }
}
