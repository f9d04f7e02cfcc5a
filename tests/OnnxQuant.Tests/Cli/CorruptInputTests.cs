using Google.Protobuf;
using OnnxQuant.Ir.Serialization;

namespace OnnxQuant.Tests.Cli;

/// <summary>Bad model files give one clear error line and exit code 2, never a crash or a stack trace.</summary>
public class CorruptInputTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (string input in new[] { "truncated", "random bytes", "empty", "IR version 99", "missing", "folder" })
            foreach (string command in new[] { "inspect", "convert" })
                data.Add(input, command);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void BadInput_GivesAClearErrorAndExitCode2(string input, string command)
    {
        using var dir = new ScratchFolder();
        string path = MakeInput(dir, input);
        string[] before = dir.Entries();

        var result = command == "inspect"
            ? Onnxquant.Run("inspect", path)
            : Onnxquant.Run("convert", path, dir.File("out.onnx"));

        AssertCleanFailure(result, path, input);
        Assert.Equal(before, dir.Entries());
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("random bytes")]
    public void BadInput_InASeparateProcess_ExitsCleanlyWithCode2(string input)
    {
        using var dir = new ScratchFolder();
        string path = MakeInput(dir, input);
        var result = Onnxquant.RunProcess(dir.Path, null, "convert", Path.GetFileName(path), "out.onnx");
        AssertCleanFailure(result, Path.GetFileName(path), input);
        Assert.Equal([Path.GetFileName(path)], dir.Entries());
    }

    private static void AssertCleanFailure(CliResult result, string path, string input)
    {
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal("", result.Stdout);
        Assert.StartsWith("error: ", result.Stderr);
        Assert.Single(result.Stderr.TrimEnd('\n').Split('\n'));
        Assert.Contains(path, result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.DoesNotContain("Exception", result.Stderr);
        string expected = input switch
        {
            "truncated" or "random bytes" => "not a valid ONNX model",
            "empty" => "not an ONNX model",
            "IR version 99" => "IR version 99",
            "missing" => "no such file",
            "folder" => "is a folder",
            _ => throw new ArgumentOutOfRangeException(nameof(input)),
        };
        Assert.Contains(expected, result.Stderr);
    }

    private static string MakeInput(ScratchFolder dir, string input)
    {
        string path = dir.File("model.onnx");
        switch (input)
        {
            case "truncated":
                byte[] whole = File.ReadAllBytes(SharedPaths.Model("vit_mnist.onnx"));
                File.WriteAllBytes(path, whole[..(whole.Length / 2)]);
                break;
            case "random bytes":
                var bytes = new byte[64 * 1024];
                new Random(20240607).NextBytes(bytes);
                File.WriteAllBytes(path, bytes);
                break;
            case "empty":
                File.WriteAllBytes(path, []);
                break;
            case "IR version 99":
                var proto = OnnxReader.ReadProto(SharedPaths.Model("vit_mnist.onnx"));
                proto.IrVersion = 99;
                File.WriteAllBytes(path, proto.ToByteArray());
                break;
            case "missing":
                break;
            case "folder":
                Directory.CreateDirectory(path);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(input));
        }
        return path;
    }
}
