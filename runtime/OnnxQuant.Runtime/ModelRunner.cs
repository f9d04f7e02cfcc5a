using Microsoft.ML.OnnxRuntime;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime.Kernels;

namespace OnnxQuant.Runtime;

/// <summary>
/// Runs an ONNX model (a file or an IR model) in ONNX Runtime on the CPU with named feeds, returning IR tensors.
/// An IR model is handed to ORT as bytes; one with mapped external data or over 1.5 GB is written to a temporary
/// folder with external data first, so weights never pass through managed memory whole.
/// </summary>
public sealed class ModelRunner : IDisposable
{
    private readonly InferenceSession _session;
    private readonly SessionOptions _sessionOptions;
    private readonly string? _tempDirectory;

    private ModelRunner(InferenceSession session, SessionOptions options, string? tempDirectory)
    {
        _session = session;
        _sessionOptions = options;
        _tempDirectory = tempDirectory;
    }

    public IReadOnlyList<string> InputNames => _session.InputNames;
    public IReadOnlyList<string> OutputNames => _session.OutputNames;

    /// <summary>ORT's view of the inputs (element type and dims, -1 for free dimensions).</summary>
    public IReadOnlyDictionary<string, NodeMetadata> InputMetadata => _session.InputMetadata;

    public static ModelRunner FromFile(string path, RunnerOptions? options = null)
    {
        var so = CreateSessionOptions(options ?? RunnerOptions.Default, File.Exists(path) && KernelLibrary.IsUsedBy(path));
        try { return new ModelRunner(new InferenceSession(path, so), so, null); }
        catch (OnnxRuntimeException e)
        {
            so.Dispose();
            throw new OnnxQuantException($"ONNX Runtime cannot load {path}: {e.Message}", e);
        }
    }

    /// <summary>Inline models with at least this many bytes of tensors go to ORT through a temporary file (see FromModel).</summary>
    private const long ViaFileBytes = 64L << 20;

    /// <summary>A session over <paramref name="model"/>; <paramref name="extraOutputs"/> exposes intermediate values by name.</summary>
    public static ModelRunner FromModel(Model model, RunnerOptions? options = null, IEnumerable<string>? extraOutputs = null)
    {
        var so = CreateSessionOptions(options ?? RunnerOptions.Default, KernelLibrary.IsUsedBy(model));
        Onnx.Proto.ModelProto? proto = OnnxWriter.ToProto(model);
        if (extraOutputs is not null)
        {
            var existing = proto.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
            foreach (string name in extraOutputs)
                if (existing.Add(name)) proto.Graph.Output.Add(new Onnx.Proto.ValueInfoProto { Name = name });
        }
        string? temp = null;
        try
        {
            long tensorBytes = OnnxWriter.TotalTensorBytes(model);
            bool large = model.AllGraphs().Any(g => g.Constants.Any(c => c.Const!.IsMapped)) || tensorBytes > 1_500_000_000L;
            if (!large && tensorBytes < ViaFileBytes)
                return new ModelRunner(new InferenceSession(Google.Protobuf.MessageExtensions.ToByteArray(proto), so), so, null);
            temp = Directory.CreateTempSubdirectory("onnxquant-run-").FullName;
            string path = Path.Combine(temp, "model.onnx");
            if (!large)
            {
                // Through a file, not a byte array: the model, its proto, the proto's bytes and ORT's copy were alive
                // together (4× the weights: the 311M Llama's w4a16-gptq held 4.5 GB while calibrating). Written, the
                // proto is dropped before ORT loads its copy.
                using (var stream = new FileStream(path, FileMode.CreateNew)) Google.Protobuf.MessageExtensions.WriteTo(proto, stream);
                proto = null;
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                return new ModelRunner(new InferenceSession(path, so), so, temp);
            }
            var m = OnnxReader.FromProto(proto, model.BaseDirectory);
            OnnxWriter.Write(m, path, new OnnxWriteOptions { ExternalData = true });
            m.Dispose();
            return new ModelRunner(new InferenceSession(path, so), so, temp);
        }
        catch (OnnxRuntimeException e)
        {
            so.Dispose();
            if (temp is not null) Directory.Delete(temp, recursive: true);
            throw new OnnxQuantException($"ONNX Runtime cannot load the model: {e.Message}", e);
        }
    }

    /// <summary>
    /// A session over <paramref name="proto"/> whose initializers named in <paramref name="supplied"/> are taken from
    /// those values (memory the caller owns and keeps alive while the runner lives) instead of the model's bytes:
    /// block-wise calibration hands each block's weights to ORT this way, without copying them. The proto declares
    /// them as external data in <paramref name="placeholderFile"/>, which ORT checks exists and never reads: it is
    /// created sparse (<paramref name="placeholderBytes"/> long, no disk blocks) beside the model in a temporary folder.
    /// </summary>
    internal static ModelRunner FromProto(Onnx.Proto.ModelProto proto, RunnerOptions options, bool usesKernelLibrary,
        IReadOnlyList<KeyValuePair<string, OrtValue>> supplied, string placeholderFile, long placeholderBytes)
    {
        var so = CreateSessionOptions(options, usesKernelLibrary);
        string temp = Directory.CreateTempSubdirectory("onnxquant-block-").FullName;
        try
        {
            using (var placeholder = new FileStream(Path.Combine(temp, placeholderFile), FileMode.CreateNew)) placeholder.SetLength(placeholderBytes);
            string path = Path.Combine(temp, "model.onnx");
            using (var stream = new FileStream(path, FileMode.CreateNew)) Google.Protobuf.MessageExtensions.WriteTo(proto, stream);
            foreach (var (name, value) in supplied) so.AddInitializer(name, value);
            return new ModelRunner(new InferenceSession(path, so), so, temp);
        }
        catch (OnnxRuntimeException e)
        {
            so.Dispose();
            Directory.Delete(temp, recursive: true);
            throw new OnnxQuantException($"ONNX Runtime cannot load the model: {e.Message}", e);
        }
    }

    /// <summary>Runs once; returns the requested outputs (all graph outputs by default) by name.</summary>
    public IReadOnlyDictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> feeds, IReadOnlyList<string>? outputNames = null)
    {
        var names = outputNames ?? _session.OutputNames;
        var output = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using var outputs = RunAndKeep(feeds, names);
        for (int i = 0; i < outputs.Values.Count; i++) output[names[i]] = OrtTensors.FromOrtValue(outputs.Values[i]);
        return output;
    }

    /// <summary>
    /// Runs once and hands each requested output to <paramref name="visit"/> without copying it (calibration reads
    /// intermediate tensors this way, so a batch's activations never pass through managed memory). With
    /// <paramref name="parallelism"/> above 1, outputs are visited on that many threads at once: the visitor must then
    /// be safe to call concurrently for different outputs.
    /// </summary>
    public void Run(IReadOnlyDictionary<string, Tensor> feeds, IReadOnlyList<string> outputNames, OutputVisitor visit, int parallelism = 1)
    {
        using var outputs = RunAndKeep(feeds, outputNames);
        outputs.Visit(visit, parallelism);
    }

    /// <summary>
    /// Copies the feeds into ORT, runs once and keeps the requested outputs in ORT's buffers until the result is
    /// disposed (calibration observes one batch's outputs on another thread while the next batch runs); the one
    /// session-run helper behind the Run overloads. The feeds are released at once.
    /// </summary>
    public RunOutputs RunAndKeep(IReadOnlyDictionary<string, Tensor> feeds, IReadOnlyList<string> outputNames)
    {
        var inputNames = new List<string>(feeds.Count);
        var inputs = new List<OrtValue>(feeds.Count);
        try
        {
            foreach (var (name, tensor) in feeds)
            {
                inputNames.Add(name);
                inputs.Add(OrtTensors.ToOrtValue(tensor));
            }
            using var runOptions = new RunOptions();
            return new RunOutputs(_session.Run(runOptions, inputNames, inputs, outputNames), outputNames.ToArray());
        }
        catch (OnnxRuntimeException e)
        {
            throw new OnnxQuantException($"ONNX Runtime failed to run the model: {e.Message}", e);
        }
        finally
        {
            foreach (var v in inputs) v.Dispose();
        }
    }

    /// <summary>
    /// Copies <paramref name="feeds"/> into ONNX Runtime once, for repeated runs that should time the model and not
    /// the copies (benchmarks). The result borrows this runner: dispose it before the runner.
    /// </summary>
    public PreparedRun Prepare(IReadOnlyDictionary<string, Tensor> feeds)
    {
        var names = new List<string>(feeds.Count);
        var values = new List<OrtValue>(feeds.Count);
        try
        {
            foreach (var (name, tensor) in feeds)
            {
                names.Add(name);
                values.Add(OrtTensors.ToOrtValue(tensor));
            }
            return new PreparedRun(_session, names, values);
        }
        catch
        {
            foreach (var v in values) v.Dispose();
            throw;
        }
    }

    public static IReadOnlyDictionary<string, Tensor> RunOnce(Model model, IReadOnlyDictionary<string, Tensor> feeds, RunnerOptions? options = null)
    {
        using var runner = FromModel(model, options);
        return runner.Run(feeds);
    }

    /// <summary>Session options for <paramref name="o"/>; with OnnxQuant's kernel library registered when the model uses it.</summary>
    private static SessionOptions CreateSessionOptions(RunnerOptions o, bool usesKernelLibrary)
    {
        // Resolved before anything native is created, so a missing library is a plain error with nothing to dispose.
        string? kernels = usesKernelLibrary ? KernelLibrary.Path : null;
        ExecutionProviders.EnsureAvailable(o.Provider);
        var so = new SessionOptions
        {
            GraphOptimizationLevel = o.Optimization switch
            {
                OptimizationLevel.None => GraphOptimizationLevel.ORT_DISABLE_ALL,
                OptimizationLevel.Basic => GraphOptimizationLevel.ORT_ENABLE_BASIC,
                OptimizationLevel.Extended => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                _ => GraphOptimizationLevel.ORT_ENABLE_ALL,
            },
            IntraOpNumThreads = o.IntraOpThreads,
            InterOpNumThreads = o.InterOpThreads,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        if (o.OptimizedModelPath is not null) so.OptimizedModelFilePath = o.OptimizedModelPath;
        so.AddSessionConfigEntry("session.intra_op.allow_spinning", o.AllowSpinning ? "1" : "0");
        so.AddSessionConfigEntry("session.inter_op.allow_spinning", o.AllowSpinning ? "1" : "0");
        foreach (var (k, v) in o.SessionConfig) so.AddSessionConfigEntry(k, v);
        foreach (string lib in o.CustomOpLibraries) so.RegisterCustomOpLibrary(lib);
        if (kernels is not null && !o.CustomOpLibraries.Contains(kernels)) so.RegisterCustomOpLibrary(kernels);
        try { ExecutionProviders.Append(so, o.Provider); }
        catch
        {
            so.Dispose();
            throw;
        }
        return so;
    }

    public void Dispose()
    {
        _session.Dispose();
        _sessionOptions.Dispose();
        if (_tempDirectory is not null)
        {
            try { Directory.Delete(_tempDirectory, recursive: true); } catch (IOException) { }
        }
    }
}
