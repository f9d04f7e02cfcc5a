using System.CommandLine;
using System.Globalization;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;

namespace OnnxQuant.Cli.Commands;

/// <summary>
/// <c>onnxquant convert IN OUT [--external-data] [--size-threshold BYTES]</c>: reads a model into the IR and writes
/// it back, with no pass in between: normalizes the file (raw_data tensors, Constant nodes lifted to initializers,
/// deterministic layout) and moves weights into, or out of, one external data file <c>OUT.data</c>.
/// The input is never written to: outputs that would replace the input model or one of its data files are refused,
/// and the writer builds the output in temporary files renamed into place only when complete.
/// </summary>
public static class ConvertCommand
{
    public const long DefaultSizeThreshold = 1024;

    public static Command Create()
    {
        var input = new Argument<string>("IN") { Description = "The model to read." };
        var output = new Argument<string>("OUT") { Description = "Where to write the converted model (replaced if it exists)." };
        var externalData = new Option<bool>("--external-data")
        {
            Description = "Store tensors of at least --size-threshold bytes in one file OUT.data beside OUT.",
        };
        var threshold = new Option<long>("--size-threshold")
        {
            Description = "Smallest tensor, in bytes, moved to OUT.data (also used when a model over 2 GB is split automatically).",
            DefaultValueFactory = _ => DefaultSizeThreshold,
            HelpName = "BYTES",
        };
        threshold.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<long>() < 0) r.AddError("--size-threshold must be 0 or more bytes.");
        });
        var command = new Command("convert", "Read a model and write it back through the IR (no passes), e.g. to move weights into external data.")
        {
            input,
            output,
            externalData,
            threshold,
        };
        command.SetAction(parse =>
        {
            Run(parse.GetRequiredValue(input), parse.GetRequiredValue(output), parse.GetValue(externalData),
                parse.GetValue(threshold), parse.InvocationConfiguration.Output);
            return ExitCodes.Success;
        });
        return command;
    }

    private static void Run(string inPath, string outPath, bool externalData, long threshold, TextWriter stdout)
    {
        if (Directory.Exists(outPath))
            throw new OnnxQuantException($"convert: the output {outPath} is a folder. Give a file name, e.g. {Path.Combine(outPath, Path.GetFileName(inPath))}.");
        if (File.Exists(inPath) && FilePaths.Same(inPath, outPath))
            throw new OnnxQuantException($"convert: the output {outPath} is the input model itself; the input is never overwritten. Choose another output path.");

        using var model = OnnxReader.Read(inPath);

        string dataName = Path.GetFileName(Path.GetFullPath(outPath)) + ".data";
        string dataPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outPath))!, dataName);
        var options = new OnnxWriteOptions { ExternalData = externalData, SizeThreshold = threshold, DataFileName = dataName };
        // The writer creates OUT.data when asked to, or on its own when the protobuf would pass 2 GB.
        bool writesData = options.ExternalData || OnnxWriter.TotalTensorBytes(model) > options.AutoExternalLimit;
        CheckOutputsSpareInput(model, inPath, outPath, writesData ? dataPath : null);

        try
        {
            OnnxWriter.Write(model, outPath, options);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException
                                   // .NET reports EFBIG (file size limit, e.g. FAT32 or ulimit -f) this way.
                                   || (e is ArgumentOutOfRangeException && e.TargetSite?.DeclaringType == typeof(RandomAccess)))
        {
            throw CliErrors.WriteFailed(outPath, e);
        }

        long modelBytes = new FileInfo(outPath).Length;
        string dataNote = writesData ? $" and {dataPath} ({new FileInfo(dataPath).Length} bytes)" : "";
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Wrote {outPath} ({modelBytes} bytes){dataNote}."));
    }

    /// <summary>Refuses an OUT, or OUT.data, that is one of the files the input model is read from.</summary>
    private static void CheckOutputsSpareInput(Model model, string inPath, string outPath, string? dataPath)
    {
        var inputData = ModelTensors.ExternalDataFiles(model);
        foreach (string file in inputData)
            if (FilePaths.Same(file, outPath))
                throw new OnnxQuantException(
                    $"convert: the output {outPath} is the external data file {file} of the input {inPath}; the input is never overwritten. Choose another output path.");

        if (dataPath is null) return;
        if (FilePaths.Same(inPath, dataPath))
            throw new OnnxQuantException(
                $"convert: the output's data file {dataPath} would replace the input model {inPath}. Choose another output path.");
        foreach (string file in inputData)
            if (FilePaths.Same(file, dataPath))
                throw new OnnxQuantException(
                    $"convert: the output's data file {dataPath} is the external data file of the input {inPath}; the input is never overwritten. Choose another output path.");
    }
}
