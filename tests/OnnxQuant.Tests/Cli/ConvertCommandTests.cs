using System.Security.Cryptography;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Onnx.Proto;
using OnnxQuant.Tests.Serialization;

namespace OnnxQuant.Tests.Cli;

public class ConvertCommandTests
{
    public static TheoryData<string, bool> SharedModelsWithAndWithoutExternalData()
    {
        var data = new TheoryData<string, bool>();
        foreach (string path in SharedPaths.AllModels())
        {
            data.Add(Path.GetFileName(path), false);
            data.Add(Path.GetFileName(path), true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(SharedModelsWithAndWithoutExternalData))]
    public void SharedModel_ConvertsToAModelWithTheSameStructure(string file, bool externalData)
    {
        using var dir = new ScratchFolder();
        string output = dir.File("out.onnx");
        string[] args = externalData ? ["convert", SharedPaths.Model(file), output, "--external-data"] : ["convert", SharedPaths.Model(file), output];
        var result = Onnxquant.Run(args);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("Wrote", result.Stdout);

        using var original = OnnxReader.Read(SharedPaths.Model(file));
        using var converted = OnnxReader.Read(output);
        Assert.Equal(ModelStructure.Describe(original), ModelStructure.Describe(converted));
        Assert.Equal(externalData ? ["out.onnx", "out.onnx.data"] : ["out.onnx"], dir.Entries());
        if (externalData)
            Assert.Contains(OnnxReader.ReadProto(output).Graph.Initializer, t => t.DataLocation == TensorProto.Types.DataLocation.External);
    }

    [Theory]
    [InlineData("same path")]
    [InlineData("other spelling")]
    [InlineData("symbolic link to the input")]
    [InlineData("through a linked folder")]
    public void RefusesAnOutputThatIsTheInput(string how)
    {
        using var dir = new ScratchFolder();
        string input = dir.File("m.onnx");
        File.Copy(SharedPaths.Model("vit_mnist.onnx"), input);
        Directory.CreateDirectory(dir.File("sub"));
        string output = how switch
        {
            "same path" => input,
            "other spelling" => Path.Combine(dir.Path, "sub", "..", ".", "m.onnx"),
            "symbolic link to the input" => File.CreateSymbolicLink(dir.File("link.onnx"), input).FullName,
            "through a linked folder" => Path.Combine(Directory.CreateSymbolicLink(dir.File("alias"), dir.Path).FullName, "m.onnx"),
            _ => throw new ArgumentOutOfRangeException(nameof(how)),
        };
        string[] before = dir.Entries();
        byte[] hash = SHA256.HashData(File.ReadAllBytes(input));

        var result = Onnxquant.Run("convert", input, output);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith("error: ", result.Stderr);
        Assert.Contains("is the input model itself", result.Stderr);
        Assert.Equal(hash, SHA256.HashData(File.ReadAllBytes(input)));
        Assert.Equal(before, dir.Entries());
    }

    [Fact]
    public void RefusesAnOutputThatIsAnExternalDataFileOfTheInput()
    {
        using var dir = new ScratchFolder();
        string input = WriteWithExternalData(dir, "m.onnx", "weights.bin");
        byte[] hash = SHA256.HashData(File.ReadAllBytes(dir.File("weights.bin")));

        var result = Onnxquant.Run("convert", input, dir.File("weights.bin"));

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("is the external data file", result.Stderr);
        Assert.Equal(hash, SHA256.HashData(File.ReadAllBytes(dir.File("weights.bin"))));
        Assert.Equal(["m.onnx", "weights.bin"], dir.Entries());
    }

    [Fact]
    public void RefusesAnOutputWhoseDataFileIsAnExternalDataFileOfTheInput_OnlyWhenItWritesOne()
    {
        using var dir = new ScratchFolder();
        // The input keeps its weights in out.onnx.data: exactly where `convert m.onnx out.onnx --external-data` writes.
        string input = WriteWithExternalData(dir, "m.onnx", "out.onnx.data");
        byte[] hash = SHA256.HashData(File.ReadAllBytes(dir.File("out.onnx.data")));

        var refused = Onnxquant.Run("convert", input, dir.File("out.onnx"), "--external-data");
        Assert.True(refused.ExitCode == 2, refused.ToString());
        Assert.Contains("data file", refused.Stderr);
        Assert.Equal(["m.onnx", "out.onnx.data"], dir.Entries());

        // Without external data OUT.data is not written, so nothing is at risk.
        var inline = Onnxquant.Run("convert", input, dir.File("out.onnx"));
        Assert.True(inline.ExitCode == 0, inline.ToString());
        Assert.Equal(hash, SHA256.HashData(File.ReadAllBytes(dir.File("out.onnx.data"))));
        Assert.Equal(["m.onnx", "out.onnx", "out.onnx.data"], dir.Entries());
    }

    [Fact]
    public void RefusesAnOutputWhoseDataFileIsTheInput()
    {
        using var dir = new ScratchFolder();
        string input = dir.File("m.data");
        File.Copy(SharedPaths.Model("vit_mnist.onnx"), input);
        byte[] hash = SHA256.HashData(File.ReadAllBytes(input));

        var result = Onnxquant.Run("convert", input, dir.File("m"), "--external-data");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("would replace the input model", result.Stderr);
        Assert.Equal(hash, SHA256.HashData(File.ReadAllBytes(input)));
        Assert.Equal(["m.data"], dir.Entries());
    }

    [Fact]
    public void RefusesAFolderAsOutput()
    {
        using var dir = new ScratchFolder();
        Directory.CreateDirectory(dir.File("out"));
        var result = Onnxquant.Run("convert", SharedPaths.Model("vit_mnist.onnx"), dir.File("out"));
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("is a folder", result.Stderr);
        Assert.Equal(["out"], dir.Entries());
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.File("out")));
    }

    [Fact]
    public void MissingArgument_IsAUsageError()
    {
        var result = Onnxquant.Run("convert", SharedPaths.Model("vit_mnist.onnx"));
        Assert.Equal(1, result.ExitCode);
        Assert.NotEqual("", result.Stderr);
    }

    [Fact]
    public void NegativeSizeThreshold_IsAUsageError()
    {
        using var dir = new ScratchFolder();
        var result = Onnxquant.Run("convert", SharedPaths.Model("vit_mnist.onnx"), dir.File("o.onnx"), "--external-data", "--size-threshold", "-1");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--size-threshold", result.Stderr);
        Assert.Empty(dir.Entries());
    }

    /// <summary>Writes vit_mnist as <paramref name="name"/> with its weights in <paramref name="dataName"/>.</summary>
    private static string WriteWithExternalData(ScratchFolder dir, string name, string dataName)
    {
        string path = dir.File(name);
        using var model = OnnxReader.Read(SharedPaths.Model("vit_mnist.onnx"));
        OnnxWriter.Write(model, path, new OnnxWriteOptions { ExternalData = true, DataFileName = dataName });
        return path;
    }
}
