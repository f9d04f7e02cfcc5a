using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Runtime;

public class SharedModelRoundTripTests
{
    public static TheoryData<string> SharedModels() => new(SharedPaths.AllModels().Select(Path.GetFileName)!);

    /// <summary>Read → write → read through the IR changes nothing ONNX Runtime can see: outputs are bit-identical.</summary>
    [Theory]
    [MemberData(nameof(SharedModels))]
    public void RoundTrippedModel_ComputesBitIdenticalOutputs(string file)
    {
        string path = SharedPaths.Model(file);
        using var model = OnnxReader.Read(path);
        var feeds = SharedModelInputs.For(file, model, seed: 1);
        using var original = ModelRunner.FromFile(path);
        var expected = original.Run(feeds);

        using var reread = OnnxReader.Read(OnnxWriter.ToBytes(model));
        var actual = ModelRunner.RunOnce(reread, feeds);

        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, tensor) in expected)
        {
            Assert.Equal(tensor.Dims, actual[name].Dims);
            Assert.True(tensor.ContentEquals(actual[name]), $"{file}: output '{name}' differs after the round trip.");
        }
    }
}
