using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Passes.Canonicalization;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Tests.Pipeline;
using OnnxQuant.Tests.Quantization;

namespace OnnxQuant.Tests.Calibration;

/// <summary>
/// Statistics requested by value: the readers after a calibrate step declare what they read, the step collects the
/// union in one run, readers get it by IR value; a pass that changes the graph invalidates what it does not preserve,
/// at load time (the recipe is refused, with the YAML line) and at run time.
/// </summary>
public sealed class StatisticsByValueTests : IDisposable
{
    private const int K = 6, N = 4, Tokens = 5, Samples = 7;
    private static readonly float[] Bias = [-3f, -1f, 0f, 0.5f, 2f, 4f];
    private static readonly float[] Weight = QdqTestKit.RandomFloats(5, K * N, -1, 1);
    private static readonly DataSourceOptions Source = new() { Count = Samples, BatchSize = 1 };
    private readonly ScratchFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    // ---- load time ----

    [Fact]
    public void ARecipeThatRewritesTheGraphBetweenCalibrateAndInsertQdq_IsRejectedAtLoad_AtTheReadersLine()
    {
        const string yaml = """
            name: stale
            passes:
              - infer-shapes
              - calibrate: {method: minmax}
              - fuse-gelu
              - insert-qdq
            """;

        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(yaml, "stale.yaml"));

        Assert.Equal(new SourceLocation("stale.yaml", 6, 5), e.Location);
        Assert.Equal("stale.yaml:6:5: Pass 'insert-qdq' reads calibration statistics (ranges), but 'fuse-gelu' (line 5) may rewrite the graph " +
            "after 'calibrate' (line 4) and does not preserve them, so they would be stale. Move 'calibrate' after 'fuse-gelu', or add a " +
            "'calibrate' step before 'insert-qdq'.", e.Message);
    }

    [Fact]
    public void ARewriteInsideAFixedPointGroupAfterTheReader_IsRejected_AsItsSecondRoundWouldReadStaleStatistics()
    {
        const string yaml = """
            name: stale-group
            passes:
              - calibrate
              - fixed-point: [insert-qdq, fold-constants]
            """;

        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(yaml, "g.yaml"));

        Assert.Equal(new SourceLocation("g.yaml", 4, 19), e.Location);
        Assert.Contains("but 'fold-constants' (line 4) may rewrite the graph after 'calibrate' (line 3)", e.Message);
    }

    [Fact]
    public void AReaderWithoutACalibrateStepBeforeIt_IsRejectedAtLoad_NamingTheCollector()
    {
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse("name: n\npasses:\n  - dce\n  - insert-qdq\n  - calibrate\n", "n.yaml"));

        Assert.Equal("n.yaml:4:5: Pass 'insert-qdq' reads calibration statistics (ranges), which no earlier pass collects (earlier passes: dce). " +
            "Put 'calibrate' before 'insert-qdq'.", e.Message);
    }

    [Fact]
    public void CalibratingAgainAfterTheRewrite_OrPreservingPassesInBetween_Load()
    {
        var twice = RecipeLoader.Parse("name: t\npasses:\n  - calibrate\n  - fuse-gelu\n  - calibrate\n  - insert-qdq\n", "t.yaml");
        var preserving = RecipeLoader.Parse("name: p\npasses:\n  - calibrate\n  - infer-shapes\n  - insert-qdq\n  - infer-shapes\n  - insert-qdq\n", "p.yaml");

        Assert.Equal(["calibrate", "fuse-gelu", "calibrate", "insert-qdq"], twice.Passes.Select(p => p.Name));
        var schedule = new StatisticsSchedule(twice.Steps);
        Assert.Empty(schedule.ReadersOf(schedule.Collectors[0]));
        Assert.Equal("insert-qdq", Assert.Single(schedule.ReadersOf(schedule.Collectors[1])).Name);
        Assert.Equal(2, new StatisticsSchedule(preserving.Steps).ReadersOf(new StatisticsSchedule(preserving.Steps).Collectors[0]).Count);
    }

    [Fact]
    public void AReaderMayRequestOnlyTheKindsItDeclares()
    {
        using var model = LinearModel();

        var e = Assert.Throws<InvalidOperationException>(() => new StatisticsRequests().AddFrom(new PassStep(new UndeclaredRequestPass()), model));

        Assert.Contains("'undeclared-request' requests XᵀX of linear inputs of %", e.Message);
        Assert.Contains("declares that it reads ranges", e.Message);
    }

    // ---- the values ----

    [Fact]
    public void ARequestedPerChannelMean_SecondMoment_AndTokenStatistics_EqualACSharpReferenceOnTheSameData()
    {
        using var model = LinearModel();
        var context = Context();

        Pipeline(new ProbeStatisticsPass()).Run(model, context);

        var got = context.GetAnalysis<ProbeReadings>()!;
        var want = Reference(model);
        Assert.Equal(K, got.K);
        Assert.Equal(Samples * Tokens, got.Rows);
        Assert.Equal(want.AbsMax, got.AbsMax); // maxima of the same float values: exact
        Close(want.MeanAbs, got.MeanAbs, 1e-6, "mean |x|");
        Close(want.Mean, got.Mean, 1e-12, "mean x");
        Close(want.SecondMoment, got.SecondMoment, 1e-12, "XᵀX");
        Assert.Equal(Samples * Tokens, got.Tokens);
        Assert.Equal(want.TokenMax, got.TokenMax);
        Assert.Equal(want.TokenMeanAbsMax, got.TokenMeanAbsMax, 1e-6);
        // The output passes through ORT's float MatMul; the reference is the double product of the same inputs.
        Close(want.OutputMean!, got.OutputMean!, 1e-5, "mean y");
        Assert.Equal(want.OutputRange!.Value.Min, got.OutputRange!.Value.Min, 1e-5);
        Assert.Equal(want.OutputRange.Value.Max, got.OutputRange.Value.Max, 1e-5);
        // The means differ per channel by the bias: the test would catch channels mixed up or averaged together.
        Assert.True(got.Mean[^1] - got.Mean[0] > 6, $"channel means {string.Join(", ", got.Mean)} do not show the bias");
    }

    [Fact]
    public void OneRunCollectsTheUnionOfEveryReadersRequests()
    {
        using var model = LinearModel();
        var context = Context();

        Pipeline(new ProbeStatisticsPass(), new InsertQdqPass()).Run(model, context);

        var statistics = context.GetAnalysis<CalibrationResult>()!.Statistics;
        // x, h and y: insert-qdq reads the MatMul input h (already asked for by the probe) and the graph input is not read.
        Assert.Equal(["h", "y"], statistics.Tensors.Keys.Order(StringComparer.Ordinal));
        Assert.NotNull(statistics["h"].SecondMoment);
        Assert.Null(statistics["y"].SecondMoment);
        Assert.Equal(1, context.Counters["insert-qdq.activations"]);
    }

    [Fact]
    public void SavedStatisticsKeepEveryRequestedPart_AndLoadOntoTheValuesByName()
    {
        string file = _folder.File("probe.json");
        using var first = LinearModel();
        var saving = new PassContext();
        saving.SetAnalysis(new CalibrationSettings { Data = "random", Source = Source, SaveTo = file });
        Pipeline(new ProbeStatisticsPass()).Run(first, saving);

        using var second = LinearModel();
        var loading = new PassContext();
        loading.SetAnalysis(new CalibrationSettings { LoadFrom = file });
        Pipeline(new ProbeStatisticsPass()).Run(second, loading);

        var (a, b) = (saving.GetAnalysis<ProbeReadings>()!, loading.GetAnalysis<ProbeReadings>()!);
        Assert.Equal(a.SecondMoment, b.SecondMoment);
        Assert.Equal(a.Mean, b.Mean);
        Assert.Equal(a.MeanAbs, b.MeanAbs);
        Assert.Equal(a.OutputMean, b.OutputMean);
        Assert.Equal((a.Tokens, a.TokenMax, a.TokenMeanAbsMax), (b.Tokens, b.TokenMax, b.TokenMeanAbsMax));
    }

    [Fact]
    public void LoadedStatisticsThatLackARequestedPart_AreRefused_NamingTheTensorAndThePart()
    {
        string file = _folder.File("ranges-only.json");
        using var first = LinearModel();
        var saving = new PassContext();
        saving.SetAnalysis(new CalibrationSettings { Data = "random", Source = Source, SaveTo = file });
        new PassManager([new PassStep(new CalibratePass(), new CalibrateOptions { Tensors = CalibrationScope.All })]).Run(first, saving);
        Assert.Equal(["h", "x", "y"], CalibrationStatisticsKeys(file)); // every tensor is there, with its range only

        using var second = LinearModel();
        var loading = new PassContext();
        loading.SetAnalysis(new CalibrationSettings { LoadFrom = file });
        var e = Assert.Throws<PassFailedException>(() => Pipeline(new ProbeStatisticsPass()).Run(second, loading));

        Assert.StartsWith($"{file} has no per-channel statistics for 'h', which the recipe's passes after calibrate read", e.Message);
    }

    [Fact]
    public void APassCanCollectWhatItNeedsByItself_OnTheModelAsItIsNow()
    {
        using var model = LinearModel();
        var context = Context();
        var h = ProbeStatisticsPass.LinearInput(model);
        var requests = new StatisticsRequests();
        requests.AddFrom(new PassStep(new ProbeStatisticsPass()), model);

        var before = CalibratePass.Collect(model, requests, new RangeOptions(), context).ChannelMean(h);
        // Channel 0 moves by +10 (a new bias constant): a second collection, as GPTQ's layer-by-layer one, sees it.
        var shifted = Bias.ToArray();
        shifted[0] += 10;
        model.Graph.Nodes.First(n => n.OpType == "Add").ReplaceInput(1, model.Graph.AddConstant(Tensor.FromFloats(shifted, K), "bias_shifted"));
        var after = CalibratePass.Collect(model, requests, new RangeOptions(), context).ChannelMean(h);

        Assert.Equal(before[0] + 10, after[0], 1e-5);
        Assert.Equal(before[1..], after[1..]);
        Close(Reference(model, shifted).Mean, after, 1e-12, "mean h after the change");
    }

    // ---- invalidation at run time ----

    [Fact]
    public void InsertQdqKeepsTheFloatStatisticsOfTheTensorsItQuantizes_AndInvalidatesTheRest()
    {
        using var model = LinearModel();
        var context = Context();
        var pipeline = new PassManager([
            new PassStep(new CalibratePass()),
            new PassStep(new InsertQdqPass(), new InsertQdqOptions { OpTypes = ["MatMul"] }),
            new PassStep(new ProbeStatisticsPass()),
        ]);

        var e = Assert.Throws<PassFailedException>(() => pipeline.Run(model, context));

        // h (quantized: Q/DQ between it and the MatMul) was read in full; y (not quantized) was refused as stale.
        Assert.Equal("DequantizeLinear", model.Graph.Nodes.First(n => n.OpType == "MatMul").Inputs[0]!.Producer!.OpType);
        var got = context.GetAnalysis<ProbeReadings>()!;
        Close(Reference(model).Mean, got.Mean, 1e-12, "mean h after insert-qdq");
        Assert.Equal("probe-statistics", e.PassName);
        Assert.StartsWith("The calibration statistics of %y are stale: pass 'insert-qdq' changed the graph after they were collected", e.Message);
        var statistics = context.GetAnalysis<CalibrationResult>()!;
        Assert.True(statistics.IsValid(ProbeStatisticsPass.LinearInput(model)));
        Assert.False(statistics.IsValid(ProbeStatisticsPass.LinearOutput(model)));
    }

    [Fact]
    public void APassThatChangesTheGraphWithoutPreserving_MakesEveryLaterReadFail_EvenOutsideAValidatedPipeline()
    {
        using var model = LinearModel();
        var context = Context();
        Pipeline(new ProbeStatisticsPass()).Run(model, context);
        new PassManager([new PassStep(new AppendIdentityPass())]).Run(model, context);

        var e = Assert.Throws<OnnxQuantException>(() => new ProbeStatisticsPass().Run(model, context));

        Assert.Equal("The calibration statistics of %h are stale: pass 'append-identity' changed the graph after they were collected and " +
            "does not preserve them. Run 'calibrate' again after 'append-identity'.", e.Message);
    }

    [Fact]
    public void APassThatLeavesTheGraphUnchanged_InvalidatesNothing()
    {
        using var model = LinearModel();
        var context = Context();
        Pipeline(new ProbeStatisticsPass()).Run(model, context);
        new PassManager([new PassStep(new DeadCodeEliminationPass())]).Run(model, context); // nothing dead: unchanged

        new ProbeStatisticsPass().Run(model, context);

        Assert.True(context.GetAnalysis<CalibrationResult>()!.IsValid(ProbeStatisticsPass.LinearInput(model)));
    }

    // ---- helpers ----

    /// <summary>x [1, 5, 6] → h = x + bias (per-channel offsets) → y = h·W [1, 5, 4].</summary>
    private static Model LinearModel()
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 1, Tokens, K);
        var h = b.Op("Add", [x, b.Constant(Tensor.FromFloats(Bias, K), "bias")], name: "h");
        var y = b.Op("MatMul", h, b.Constant(Tensor.FromFloats(Weight, K, N), "w"));
        b.Output(y, "y", DataType.Float, 1, Tokens, N);
        var model = b.Build();
        model.Graph.Nodes.First(n => n.OpType == "Add").Output.Name = "h";
        return model;
    }

    private static List<string> CalibrationStatisticsKeys(string file) =>
        OnnxQuant.Runtime.Calibration.Statistics.CalibrationStatistics.Load(file).Tensors.Keys.Order(StringComparer.Ordinal).ToList();

    private static PassContext Context()
    {
        var context = new PassContext();
        context.SetAnalysis(new CalibrationSettings { Data = "random", Source = Source });
        return context;
    }

    private static PassManager Pipeline(params IPass[] readers) =>
        new([new PassStep(new CalibratePass()), .. readers.Select(r => new PassStep(r))]);

    /// <summary>The statistics computed here from the same samples, in double, independently of the observers.</summary>
    private static ProbeReadings Reference(Model model, float[]? bias = null)
    {
        bias ??= Bias;
        var absMax = new double[K];
        var sumAbs = new double[K];
        var sum = new double[K];
        var xtx = new double[K * K];
        var ySum = new double[N];
        double yMin = double.PositiveInfinity, yMax = double.NegativeInfinity, tokenMax = 0, tokenSum = 0;
        long rows = 0;
        using var data = CalibrationDataSource.Open("random", model, Source);
        foreach (var batch in data.Batches())
        {
            var x = batch.Feeds["x"].ToFloatArray();
            for (int r = 0; r < x.Length / K; r++, rows++)
            {
                var h = new float[K];
                for (int k = 0; k < K; k++) h[k] = x[r * K + k] + bias[k]; // float addition, as ORT's Add
                double rowMax = 0;
                for (int k = 0; k < K; k++)
                {
                    absMax[k] = Math.Max(absMax[k], Math.Abs(h[k]));
                    sumAbs[k] += Math.Abs(h[k]);
                    sum[k] += h[k];
                    rowMax = Math.Max(rowMax, Math.Abs(h[k]));
                    for (int j = 0; j < K; j++) xtx[k * K + j] += (double)h[k] * h[j];
                }
                tokenMax = Math.Max(tokenMax, rowMax);
                tokenSum += rowMax;
                for (int n = 0; n < N; n++)
                {
                    double y = 0;
                    for (int k = 0; k < K; k++) y += (double)h[k] * Weight[k * N + n];
                    ySum[n] += y;
                    yMin = Math.Min(yMin, y);
                    yMax = Math.Max(yMax, y);
                }
            }
        }
        return new ProbeReadings(absMax, sumAbs.Select(s => s / rows).ToArray(), sum.Select(s => s / rows).ToArray(), xtx, K, rows,
            rows, tokenMax, tokenSum / rows, ySum.Select(s => s / rows).ToArray(), new(yMin, yMax));
    }

    private static void Close(double[] expected, double[] actual, double relative, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= relative * scale,
                $"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R} (tolerance {relative} of {scale:G4}).");
    }
}
