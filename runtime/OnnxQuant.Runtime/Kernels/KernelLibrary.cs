using System.Runtime.InteropServices;
using Google.Protobuf;
using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.Kernels;

/// <summary>
/// OnnxQuant's own ONNX Runtime operators (runtime/kernels, C++, domain <c>com.onnxquant</c>): where the library
/// lies (beside the assemblies, built and copied there by <c>dotnet build</c>) and whether a model needs it.
/// <see cref="ModelRunner"/> registers it by absolute path whenever a model imports the domain, so every command that
/// runs a model (calibrate, eval, bench, sensitivity, audit) runs such models without an option.
/// </summary>
public static class KernelLibrary
{
    public const string Domain = "com.onnxquant";

    /// <summary>The operator set version the library implements (every op's start version is at most this).</summary>
    public const long Version = 1;

    public const string FileName = "libonnxquant_kernels.so";

    /// <summary>The library's absolute path; throws a one-line error when the build did not put it beside the assemblies.</summary>
    public static string Path
    {
        get
        {
            foreach (string dir in new[] { AppContext.BaseDirectory, System.IO.Path.GetDirectoryName(typeof(KernelLibrary).Assembly.Location) ?? "" })
            {
                string candidate = System.IO.Path.GetFullPath(System.IO.Path.Combine(dir, FileName));
                if (File.Exists(candidate)) return candidate;
            }
            throw new OnnxQuantException($"the model uses {Domain} operators but {FileName} is not beside the OnnxQuant assemblies " +
                                         $"({AppContext.BaseDirectory}); build OnnxQuant with `dotnet build` (it needs cmake and a C++ compiler) to make it");
        }
    }

    /// <summary>The kernel path this CPU runs by default: <c>avx512vnni</c>, <c>avxvnni</c>, <c>avx2</c> or <c>scalar</c>.</summary>
    public static string BestIsa()
    {
        var handle = NativeLibrary.Load(Path);
        var fn = Marshal.GetDelegateForFunctionPointer<BestIsaFn>(NativeLibrary.GetExport(handle, "OnnxQuantKernelsBestIsa"));
        return Marshal.PtrToStringAnsi(fn()) ?? "scalar";
    }

    private delegate IntPtr BestIsaFn();

    /// <summary>Whether <paramref name="model"/> imports the domain or has a node in it.</summary>
    public static bool IsUsedBy(Model model) =>
        model.OpsetImports.Any(o => o.Domain == Domain) || model.AllGraphs().Any(g => g.AllNodes().Any(n => n.Domain == Domain));

    /// <summary>
    /// Whether the model file imports the domain, read from ModelProto's top-level opset_import fields without
    /// parsing the graph (a 350 MB file is scanned, not decoded).
    /// </summary>
    public static bool IsUsedBy(string modelPath)
    {
        const int OpsetImportField = 8, DomainField = 1;
        try
        {
            using var stream = File.OpenRead(modelPath);
            using var input = new CodedInputStream(stream);
            uint tag;
            while ((tag = input.ReadTag()) != 0)
            {
                if (WireFormat.GetTagFieldNumber(tag) != OpsetImportField || WireFormat.GetTagWireType(tag) != WireFormat.WireType.LengthDelimited)
                {
                    input.SkipLastField();
                    continue;
                }
                var opset = new CodedInputStream(input.ReadBytes().ToByteArray());
                uint inner;
                while ((inner = opset.ReadTag()) != 0)
                {
                    if (WireFormat.GetTagFieldNumber(inner) == DomainField && WireFormat.GetTagWireType(inner) == WireFormat.WireType.LengthDelimited)
                    {
                        if (opset.ReadString() == Domain) return true;
                    }
                    else opset.SkipLastField();
                }
            }
            return false;
        }
        catch (InvalidProtocolBufferException)
        {
            return false;  // not a model ONNX Runtime can load either; its own error will say why
        }
    }
}
