using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Cli;

public class ConvertNumericsTests
{
    public static TheoryData<string> SharedModels() => new(SharedPaths.AllModels().Select(Path.GetFileName)!);

    /// <summary>
    /// `convert --external-data` changes nothing ONNX Runtime can see: the converted files (model + OUT.data, loaded by
    /// ORT from disk, graph optimizations off) compute bit-identical outputs on seeded inputs.
    /// </summary>
    [Theory]
    [MemberData(nameof(SharedModels))]
    public void ConvertedModelWithExternalData_ComputesBitIdenticalOutputs(string file)
    {
        using var dir = new ScratchFolder();
        string input = SharedPaths.Model(file);
        string output = dir.File("out.onnx");
        var result = Onnxquant.Run("convert", input, output, "--external-data");
        Assert.True(result.ExitCode == 0, result.ToString());

        using var model = OnnxReader.Read(input);
        var feeds = SharedModelInputs.For(file, model, seed: 1);
        using var original = ModelRunner.FromFile(input);
        using var converted = ModelRunner.FromFile(output);
        var expected = original.Run(feeds);
        var actual = converted.Run(feeds);

        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, tensor) in expected)
        {
            Assert.Equal(tensor.Dims, actual[name].Dims);
            Assert.True(tensor.ContentEquals(actual[name]), $"{file}: output '{name}' differs after convert.");
        }
    }
}
