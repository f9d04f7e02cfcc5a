using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Runtime;

namespace OnnxQuant.Runtime.Evaluation;

/// <summary>
/// Runs a float model and its quantized version on the same samples, one sample at a time, and accumulates per
/// output SQNR, cosine similarity and max abs error (<see cref="ErrorStatistics"/>), the task accuracy of both
/// (<see cref="EvalTask"/>), and with <see cref="EvalOptions.PerTensor"/> the error of every intermediate tensor
/// the two models share by name and shape. Nothing is kept per sample, so memory does not grow with the count.
/// A language model (every input integer token ids, an output of logits [b, seq, vocab] or [seq, vocab]) is also
/// scored by next-token agreement and KL(float‖quant) over all positions (<see cref="NextTokenStatistics"/>).
/// </summary>
/// <remarks>
/// Samples come from <see cref="CalibrationDataSource"/> (the same .npy/.npz/folder formats as calibration, axis 0
/// = samples), fed with batch size 1. Outputs are paired by name; the quantized model must have every output of
/// the float model. With <see cref="EvalOptions.Then"/> each model's outputs feed a second model (an encoder's latent
/// feeds its decoder), and the second models' outputs are compared; the float chain never sees a quantized tensor.
/// </remarks>
public static class ModelEvaluator
{
    public static EvalReport Run(string floatPath, string quantPath, string data, EvalOptions options)
    {
        CheckOptions(options);
        ExecutionProviders.EnsureAvailable(options.Provider);
        string[] paths = options.Then is var (thenFloat, thenQuant) ? [floatPath, quantPath, thenFloat, thenQuant] : [floatPath, quantPath];
        foreach (string path in paths)
            if (!File.Exists(path)) throw new OnnxQuantException($"Model {path} does not exist.");
        using var floatModel = OnnxReader.Read(floatPath);
        using var source = CalibrationDataSource.Open(data, floatModel,
            new DataSourceOptions { Count = options.Count, Skip = options.Skip, Images = options.Images, BatchSize = 1, Shapes = options.Shapes, Seed = options.Seed });
        var runnerOptions = new RunnerOptions { Optimization = options.Optimization, IntraOpThreads = options.Threads, Provider = options.Provider };
        using var floatThen = options.Then is var (f2, _) ? ModelRunner.FromFile(f2, runnerOptions) : null;
        using var quantThen = options.Then is var (_, q2) ? ModelRunner.FromFile(q2, runnerOptions) : null;

        List<string> tensorNames = [];
        ModelRunner floatRunner, quantRunner;
        if (options.PerTensor)
        {
            using var quantModel = OnnxReader.Read(quantPath);
            tensorNames = SharedIntermediates(floatModel, quantModel);
            floatRunner = ModelRunner.FromModel(floatModel, runnerOptions, tensorNames);
            quantRunner = ModelRunner.FromModel(quantModel, runnerOptions, tensorNames);
        }
        else
        {
            floatRunner = ModelRunner.FromFile(floatPath, runnerOptions);
            quantRunner = ModelRunner.FromFile(quantPath, runnerOptions);
        }
        using var _f = floatRunner;
        using var _q = quantRunner;

        var outputs = (floatThen ?? floatRunner).OutputNames.Where(n => !tensorNames.Contains(n)).ToList();
        var (lastFloatPath, lastQuantPath) = options.Then ?? (floatPath, quantPath);
        var missing = outputs.Where(n => !(quantThen ?? quantRunner).OutputNames.Contains(n)).ToList();
        if (missing.Count > 0)
            throw new OnnxQuantException($"{lastQuantPath} lacks output(s) {string.Join(", ", missing.Select(n => $"'{n}'"))} of {lastFloatPath}; "
                + "the quantized model must keep the float model's output names.");
        var psnr = options.Task == EvalTask.Psnr ? new PsnrScorer() : null;

        var outputStats = outputs.ToDictionary(n => n, _ => new ErrorStatistics(), StringComparer.Ordinal);
        var tensorStats = new Dictionary<string, ErrorStatistics>(StringComparer.Ordinal);
        var skipped = new HashSet<string>(StringComparer.Ordinal);
        bool tokenInputs = HasTokenInputs(floatModel);
        if (!tokenInputs && (options.MinAgreement is not null || options.MaxKl is not null))
            throw new OnnxQuantException($"--min-agreement and --max-kl check a language model's next-token predictions, but {floatPath} does not take token ids: "
                + "its inputs must all be integer (int64 or int32), with an output of logits [batch, seq, vocab].");
        string? logitsName = null;
        int vocab = 0;
        bool logitsChosen = false;
        var nextToken = new NextTokenStatistics();
        var task = TaskScorer.Create(options, source.Count);
        try
        {
            foreach (var batch in source.Batches())
            {
                var f = floatRunner.Run(batch.Feeds);
                var q = quantRunner.Run(batch.Feeds);
                if (floatThen is not null && quantThen is not null)
                {
                    f = floatThen.Run(Feeds(floatThen, f, floatPath));
                    q = quantThen.Run(Feeds(quantThen, q, quantPath));
                }
                foreach (string name in outputs)
                {
                    var (a, b) = (f[name], q[name]);
                    if (!a.Dims.SequenceEqual(b.Dims))
                        throw new OnnxQuantException($"Output '{name}' has shape [{string.Join(",", a.Dims)}] in {lastFloatPath} but [{string.Join(",", b.Dims)}] in {lastQuantPath} (sample {source.Order[batch.FirstSample]}).");
                    if (!FloatValues.IsComparable(a.ElementType) || !FloatValues.IsComparable(b.ElementType))
                        throw new OnnxQuantException($"Output '{name}' is {a.ElementType.OnnxName()} / {b.ElementType.OnnxName()}; eval compares floating-point outputs.");
                    outputStats[name].Add(FloatValues.Of(a), FloatValues.Of(b));
                }
                foreach (string name in tensorNames)
                {
                    if (skipped.Contains(name)) continue;
                    var (a, b) = (f[name], q[name]);
                    if (!a.Dims.SequenceEqual(b.Dims) || !FloatValues.IsComparable(a.ElementType) || !FloatValues.IsComparable(b.ElementType))
                    {
                        skipped.Add(name);
                        tensorStats.Remove(name);
                        continue;
                    }
                    if (!tensorStats.TryGetValue(name, out var s)) tensorStats[name] = s = new ErrorStatistics();
                    s.Add(FloatValues.Of(a), FloatValues.Of(b));
                }
                task?.Add(source.Order[batch.FirstSample], f[outputs[0]], q[outputs[0]]);
                if (tokenInputs && !logitsChosen)
                {
                    (logitsName, vocab) = LogitsOutput(outputs, f);
                    logitsChosen = true;
                }
                if (logitsName is not null) nextToken.Add(FloatValues.Of(f[logitsName]), FloatValues.Of(q[logitsName]), vocab);
                psnr?.Add(batch.Feeds[floatRunner.InputNames[0]], f[outputs[0]], q[outputs[0]]);
            }
        }
        finally
        {
            task?.Dispose();
        }

        var accuracy = task?.Result();
        var psnrResult = psnr?.Result();
        var nextTokenAgreement = logitsName is null ? null : NextTokenAgreement.From(logitsName, vocab, nextToken);
        var gates = EvalGates.Check(accuracy, options.MinTop1, options.MaxDrop, psnrResult)
            .Concat(EvalGates.CheckNextToken(nextTokenAgreement, options.MinAgreement, options.MaxKl)).ToList();
        return new EvalReport(
            EvalReport.CurrentSchemaVersion,
            options.Task.ToString().ToLowerInvariant(),
            floatPath,
            quantPath,
            data,
            source.Count,
            options.Optimization.ToString().ToLowerInvariant(),
            outputs.Select(n => ErrorSummary.From(n, outputStats[n])).ToList(),
            accuracy,
            nextTokenAgreement,
            psnrResult,
            options.PerTensor
                ? tensorStats.Select(kv => ErrorSummary.From(kv.Key, kv.Value)).OrderBy(ErrorSummary.WorstFirst).ThenBy(e => e.Name, StringComparer.Ordinal).ToList()
                : null,
            options.PerTensor ? skipped.Count : null,
            gates,
            gates.All(g => g.Passed),
            options.Then?.Float,
            options.Then?.Quant);
    }

    /// <summary>
    /// Names of node outputs in the main graph of both models that are not graph inputs, outputs or constants:
    /// the tensors a quantized model can be compared on. Shapes and types are checked on the first run, since
    /// the IR may not know them.
    /// </summary>
    public static List<string> SharedIntermediates(Model floatModel, Model quantModel)
    {
        static HashSet<string> Intermediates(Model m) => m.Graph.Nodes
            .SelectMany(n => n.Outputs)
            .Where(v => v is { IsGraphOutput: false } && v.Name is not null)
            .Where(v => v!.Type is not TensorType t || FloatValues.IsComparable(t.ElementType))
            .Select(v => v!.Name!)
            .ToHashSet(StringComparer.Ordinal);
        var quant = Intermediates(quantModel);
        return floatModel.Graph.Nodes.SelectMany(n => n.Outputs)
            .Where(v => v is { IsGraphOutput: false } && v.Name is not null && quant.Contains(v.Name))
            .Where(v => v!.Type is not TensorType t || FloatValues.IsComparable(t.ElementType))
            .Select(v => v!.Name!)
            .Distinct(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>Every input the model is fed (initializers aside) is integer: token ids (and masks), as language models take.</summary>
    public static bool HasTokenInputs(Model model)
    {
        var fed = model.Graph.Inputs.Where(v => v.Const is null).ToList();
        return fed.Count > 0 && fed.All(v => v.Type is TensorType { ElementType: DataType.Int64 or DataType.Int32 });
    }

    /// <summary>
    /// The output to score as next-token logits, from the first sample's tensors: the one named "logits" if it has the
    /// shape, else the first floating-point output of rank 3 [b, seq, vocab] or 2 [seq, vocab]; none otherwise.
    /// </summary>
    private static (string?, int) LogitsOutput(List<string> outputs, IReadOnlyDictionary<string, Tensor> values)
    {
        foreach (string name in outputs.OrderBy(n => n == "logits" ? 0 : 1))
        {
            var t = values[name];
            if (FloatValues.IsComparable(t.ElementType) && t.Rank is 2 or 3 && t.Dims[^1] > 0)
                return (name, checked((int)t.Dims[^1]));
        }
        return (null, 0);
    }

    /// <summary>
    /// The second stage's feeds from the first stage's outputs: by name when every input has an output of that name,
    /// else the first stage's only output to the second's only input.
    /// </summary>
    private static Dictionary<string, Tensor> Feeds(ModelRunner then, IReadOnlyDictionary<string, Tensor> first, string firstPath)
    {
        if (then.InputNames.All(first.ContainsKey))
            return then.InputNames.ToDictionary(n => n, n => first[n], StringComparer.Ordinal);
        if (then.InputNames.Count == 1 && first.Count == 1)
            return new Dictionary<string, Tensor>(StringComparer.Ordinal) { [then.InputNames[0]] = first.Values.First() };
        throw new OnnxQuantException($"--then: the second model's inputs ({string.Join(", ", then.InputNames)}) are not all outputs of {firstPath} "
            + $"({string.Join(", ", first.Keys)}), and they are not one input fed by one output.");
    }

    private static void CheckOptions(EvalOptions o)
    {
        if (o.MaxKl is < 0) throw new OnnxQuantException($"--max-kl is a KL divergence, at least 0 (got {o.MaxKl}).");
        if (o.Skip < 0) throw new OnnxQuantException($"--skip must be 0 or more (got {o.Skip}).");
        if (o.Then is not null && o.PerTensor)
            throw new OnnxQuantException("--per-tensor compares one model pair: evaluate each stage of a --then chain on its own (e.g. the decoders on latents in a .npy).");
        if (o.Task == EvalTask.Psnr && o.Labels is not null)
            throw new OnnxQuantException("--task psnr compares the reconstruction with the input; it takes no --labels.");
        if (o.Count is < 1) throw new OnnxQuantException($"--count must be at least 1 (got {o.Count}).");
        if (o.Task == EvalTask.Ctc && o.Keys is null)
            throw new OnnxQuantException("--task ctc needs --keys FILE (the recogniser's character list, one per line).");
        if (o.Task == EvalTask.Psnr && o.MinTop1 is not null)
            throw new OnnxQuantException("--min-top1 checks classification or CTC accuracy; with --task psnr use --max-drop DB.");
        if (o.Task == EvalTask.Compare && (o.MinTop1 is not null || o.MaxDrop is not null))
            throw new OnnxQuantException("--min-top1 and --max-drop check task accuracy: use --task classify or --task ctc with --labels.");
        if ((o.MinTop1 is not null || o.MaxDrop is not null) && o.Labels is null && o.Task != EvalTask.Psnr)
            throw new OnnxQuantException("--min-top1 and --max-drop need --labels (accuracy cannot be measured without them).");
        if (o.Task == EvalTask.Compare && o.Labels is not null)
            throw new OnnxQuantException("--labels is used by --task classify or --task ctc; add one of them.");
    }
}
