using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Passes.Equivalence;
using OnnxQuant.Passes.Numerics;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Equivalence;

/// <summary>
/// The fast pieces of smooth-quant's α search against direct evaluations: integer and double products, the percentile
/// candidates, the whole output error under several quantizers (including rounding ties), and the one calibration run
/// that gives both the sampled rows and the per-channel statistics.
/// </summary>
public class SmoothQuantSearchKernelTests
{
    [Theory]
    [InlineData(1, 1, 32)]
    [InlineData(7, 9, 64)]
    [InlineData(13, 6, 3072)]
    public void Int16Products_EqualTheDirectIntegerSums(int rows, int columns, int k)
    {
        var random = new Random(rows * 100 + columns);
        var a = Enumerable.Range(0, rows * k).Select(_ => (short)random.Next(-255, 256)).ToArray();
        var b = Enumerable.Range(0, columns * k).Select(_ => (short)random.Next(-127, 128)).ToArray();
        var c = new int[rows * columns];

        Int16Products.Multiply(a, b, c, 0, rows, columns, k);

        for (int r = 0; r < rows; r++)
            for (int n = 0; n < columns; n++)
            {
                long sum = 0;
                for (int j = 0; j < k; j++) sum += a[r * k + j] * b[n * k + j];
                Assert.Equal(sum, c[r * columns + n]);
            }
    }

    [Fact]
    public void Int16Products_RefuseARowLengthThatIsNotPadded() =>
        Assert.Throws<ArgumentException>(() => Int16Products.Multiply(new short[40], new short[40], new int[1], 0, 1, 1, 40));

    [Theory]
    [InlineData(4, 8, 16)]
    [InlineData(11, 13, 37)]
    public void ExactFloatProducts_AreBitIdenticalToTheSequentialDoubleLoop(int rows, int columns, int k)
    {
        var random = new Random(rows + columns + k);
        var x = Enumerable.Range(0, rows * k).Select(_ => (double)(float)(random.NextDouble() * 20 - 10)).ToArray();
        var b = Enumerable.Range(0, k * columns).Select(_ => (double)(float)(random.NextDouble() * 2 - 1)).ToArray();
        var y = new double[rows * columns];

        ExactFloatProducts.Multiply(x, b, y, 0, rows, columns, k);

        for (int r = 0; r < rows; r++)
            for (int n = 0; n < columns; n++)
            {
                double sum = 0;
                for (int j = 0; j < k; j++) sum += x[r * k + j] * b[j * columns + n];
                Assert.Equal(BitConverter.DoubleToInt64Bits(sum), BitConverter.DoubleToInt64Bits(y[r * columns + n]));
            }
    }

    /// <summary>The quantile from the per-channel candidates is the same value a full sort of every x[r][j] / s[j] gives,
    /// on the low side, the high side, |x|, and with fewer rows than the candidates a channel would keep.</summary>
    [Theory]
    [InlineData(300, 0.00005, false)]
    [InlineData(300, 0.99995, false)]
    [InlineData(300, 0.9999, true)]
    [InlineData(300, 0.5, false)]
    [InlineData(3, 0.3, false)]
    [InlineData(1, 1.0, true)]
    public void PercentileCandidates_GiveTheQuantileOfAllValues(int rows, double q, bool absolute)
    {
        var random = new Random(rows);
        const int k = 23;
        var x = Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, k).Select(j => (float)((random.NextDouble() * 2 - 1) * (j == 4 ? 50 : 1))).ToArray()).ToArray();
        var s = Enumerable.Range(0, k).Select(_ => (float)(0.1 + random.NextDouble() * 5)).ToArray();
        var candidates = new SmoothQuantPercentileCandidates(x, q, absolute);

        var all = x.SelectMany(row => row.Select((v, j) => absolute ? Math.Abs(v / s[j]) : v / s[j])).OrderBy(v => v).ToArray();
        double at = q * (all.Length - 1);
        int i = (int)Math.Floor(at);
        double expected = i + 1 >= all.Length ? all[i] : all[i] + (at - i) * (all[i + 1] - all[i]);

        Assert.Equal(expected, candidates.Quantile(s));
    }

    public static TheoryData<string> Quantizers => ["default", "percentile", "symmetric-int8-per-tensor", "int16", "4-bit"];

    private static SmoothQuantQuantizer QuantizerNamed(string name) => name switch
    {
        "default" => SmoothQuantQuantizer.Default,
        "percentile" => SmoothQuantQuantizer.Default with { Method = CalibrationMethod.Percentile, Percentile = 99.9 },
        "symmetric-int8-per-tensor" => SmoothQuantQuantizer.Default with
        {
            ActivationType = DataType.Int8, SymmetricActivations = true, Method = CalibrationMethod.Percentile, Percentile = 99.5, PerChannelWeights = false,
        },
        "int16" => SmoothQuantQuantizer.Default with { ActivationType = DataType.Int16 },
        "4-bit" => SmoothQuantQuantizer.Default with { WeightBits = 4 },
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    /// <summary>
    /// The search's error (integer codes, vectorized quantization, column subset, percentile candidates) equals a direct
    /// evaluation written from the definitions: the range by sorting, QuantizeLinear per value, the weights rounded per
    /// channel or per tensor, the products in double. K = 45 and 203 rows exercise every vector tail.
    /// </summary>
    [Theory]
    [MemberData(nameof(Quantizers))]
    public void OutputError_EqualsADirectEvaluation(string name)
    {
        var quantizer = QuantizerNamed(name);
        var random = new Random(17);
        const int k = 45, n = 13, rows = 203;
        var x = Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, k).Select(j => (float)((random.NextDouble() * 2 - 0.7) * (j == 5 ? 40 : 1))).ToArray()).ToArray();
        var w = Enumerable.Range(0, n * k).Select(i => (float)((random.NextDouble() * 2 - 1) * (i % 11 == 0 ? 6 : 1))).ToArray();
        var s = Enumerable.Range(0, k).Select(j => (float)(0.5 + random.NextDouble() * (j == 5 ? 8 : 1))).ToArray();
        var xMin = Enumerable.Range(0, k).Select(j => (double)x.Min(r => r[j])).ToArray();
        var xMax = Enumerable.Range(0, k).Select(j => (double)x.Max(r => r[j])).ToArray();
        var layers = new[] { new SmoothQuantAlphaSearch.Layer(w, n, k) };

        double fast = SmoothQuantAlphaSearch.OutputError(x, xMin, xMax, s, layers, quantizer);
        double direct = DirectError(x, xMin, xMax, s, w, n, quantizer);

        Assert.True(direct > 0);
        Assert.Equal(direct, fast, direct * 1e-9);
    }

    /// <summary>Values exactly halfway between two codes (scale 1, zero 0: x = m + 0.5) round to even, as QuantizeLinear
    /// does; a vector rounding away from zero would change every code and the error.</summary>
    [Fact]
    public void OutputError_RoundsTiesToEven()
    {
        const int k = 48, n = 4, rows = 8;
        var x = Enumerable.Range(0, rows).Select(r => Enumerable.Range(0, k).Select(j => (float)((r * k + j) % 254 + 0.5)).ToArray()).ToArray();
        x[0][0] = 0;
        x[1][1] = 255; // the range [0, 255]: scale 1, zero point 0
        var w = Enumerable.Range(0, n * k).Select(i => (float)((i % 7) - 3) / 3f).ToArray();
        var s = Enumerable.Repeat(1f, k).ToArray();
        var xMin = Enumerable.Range(0, k).Select(j => (double)x.Min(r => r[j])).ToArray();
        var xMax = Enumerable.Range(0, k).Select(j => (double)x.Max(r => r[j])).ToArray();
        var layers = new[] { new SmoothQuantAlphaSearch.Layer(w, n, k) };

        double fast = SmoothQuantAlphaSearch.OutputError(x, xMin, xMax, s, layers, SmoothQuantQuantizer.Default);
        double direct = DirectError(x, xMin, xMax, s, w, n, SmoothQuantQuantizer.Default);

        Assert.Equal(direct, fast, direct * 1e-9);
    }

    /// <summary>Σ_rows ‖x·B − Q_a(x/s)·Q_w(diag(s)·B)‖² from the definitions, everything in double.</summary>
    private static double DirectError(float[][] x, double[] xMin, double[] xMax, float[] s, float[] w, int n, SmoothQuantQuantizer q)
    {
        int k = s.Length;
        double lo, hi;
        if (q.Method == CalibrationMethod.Percentile)
        {
            double Quantile(double[] sorted, double p)
            {
                double at = p * (sorted.Length - 1);
                int i = (int)Math.Floor(at);
                return i + 1 >= sorted.Length ? sorted[i] : sorted[i] + (at - i) * (sorted[i + 1] - sorted[i]);
            }
            var values = x.SelectMany(row => row.Select((v, j) => (double)(q.SymmetricActivations ? Math.Abs(v / s[j]) : v / s[j]))).OrderBy(v => v).ToArray();
            if (q.SymmetricActivations) (lo, hi) = (-Quantile(values, q.Percentile / 100), Quantile(values, q.Percentile / 100));
            else
            {
                double cut = (100 - q.Percentile) / 200;
                (lo, hi) = (Math.Min(0, Quantile(values, cut)), Math.Max(0, Quantile(values, 1 - cut)));
            }
        }
        else
        {
            lo = Enumerable.Range(0, k).Min(j => Math.Min(0, xMin[j] / s[j]));
            hi = Enumerable.Range(0, k).Max(j => Math.Max(0, xMax[j] / s[j]));
            if (q.SymmetricActivations) (lo, hi) = (-Math.Max(-lo, hi), Math.Max(-lo, hi));
        }
        var (aScale, aZero) = QdqMath.ActivationParams((float)lo, (float)hi, q.ActivationType, q.SymmetricActivations);
        var (aMin, aMax) = QdqMath.IntegerRange(q.ActivationType, q.SymmetricActivations);
        int qmax = (1 << (q.WeightBits - 1)) - 1;
        var wq = new double[n * k];
        double all = Enumerable.Range(0, n * k).Max(i => Math.Abs((double)w[i] * s[i % k]));
        for (int c = 0; c < n; c++)
        {
            double scale = (q.PerChannelWeights ? Enumerable.Range(0, k).Max(j => Math.Abs((double)w[c * k + j] * s[j])) : all) / qmax;
            for (int j = 0; j < k; j++) wq[c * k + j] = Math.Clamp(Math.Round(w[c * k + j] * (double)s[j] / scale, MidpointRounding.ToEven), -qmax, qmax) * scale;
        }
        double error = 0;
        foreach (var row in x)
            for (int c = 0; c < n; c++)
            {
                double y = 0, yq = 0;
                for (int j = 0; j < k; j++)
                {
                    y += (double)row[j] * w[c * k + j];
                    yq += (double)(QdqMath.Quantize(row[j] / s[j], aScale, aZero, aMin, aMax) - aZero) * aScale * wq[c * k + j];
                }
                error += (y - yq) * (y - yq);
            }
        return error;
    }

    /// <summary>
    /// The run that samples rows for α auto also gives each activation's per-channel statistics, in place of a second
    /// run by the calibrate step's collector: the min, max and abs-max per channel are the same numbers.
    /// </summary>
    [Fact]
    public void SampleRows_ChannelStatistics_EqualTheCalibrateCollectors()
    {
        using var model = OnnxReader.Read(SharedPaths.Model("vit_mnist.onnx"));
        new PassManager(RecipeLoader.LoadFileOrPreset("cleanup").Steps).Run(model, new PassContext());
        var context = new PassContext();
        context.SetAnalysis(new CalibrationSettings
        {
            Data = Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy"),
            Source = new DataSourceOptions { Count = 12, BatchSize = 5 },
        });
        var activations = model.Graph.Nodes.Where(node => node.OpType == "LayerNormalization").Select(node => node.Outputs[0]!).Take(3).ToList();
        Assert.Equal(3, activations.Count);

        var sampled = SmoothQuantAlphaSearch.SampleRows(model, activations, 100, context);
        var requests = new StatisticsRequests();
        foreach (var v in activations) requests.ChannelAbsMax(v);
        var collected = CalibratePass.Collect(model, requests, new RangeOptions(), context);

        foreach (var v in activations)
        {
            Assert.Equal(100, sampled[v].Rows.Length);
            Assert.True(collected.TryGetStatistics(v, out var statistics));
            Assert.Equal(statistics.Channels!.MinMax.Select(m => (m.Min, m.Max)), sampled[v].Channels.MinMax.Select(m => (m.Min, m.Max)));
            Assert.Equal(collected.ChannelAbsMax(v), sampled[v].Channels.AbsMax());
        }
    }
}
