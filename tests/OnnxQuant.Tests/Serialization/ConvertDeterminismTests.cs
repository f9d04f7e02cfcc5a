using System.Security.Cryptography;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Serialization;

public class ConvertDeterminismTests
{
    [Theory]
    [InlineData("ppocr_v4_rec.onnx", false)]
    [InlineData("ppocr_v4_rec.onnx", true)]
    [InlineData("silero_vad_legacy.onnx", false)]
    [InlineData("silero_vad_legacy.onnx", true)]
    public void TwoProcessesConvertingTheSameModel_WriteIdenticalFiles(string file, bool externalData)
    {
        // Separate processes, so per-process hash seeds and allocation order cannot leak into the output.
        using var a = new ScratchFolder();
        using var b = new ScratchFolder();
        string[] args = externalData
            ? ["convert", SharedPaths.Model(file), "out.onnx", "--external-data"]
            : ["convert", SharedPaths.Model(file), "out.onnx"];
        var first = Onnxquant.RunProcess(a.Path, null, args);
        var second = Onnxquant.RunProcess(b.Path, null, args);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.True(second.ExitCode == 0, second.ToString());

        string[] files = externalData ? ["out.onnx", "out.onnx.data"] : ["out.onnx"];
        Assert.Equal(files, a.Entries());
        Assert.Equal(files, b.Entries());
        foreach (string f in files)
            Assert.Equal(Sha256(a.File(f)), Sha256(b.File(f)));
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream));
    }
}
