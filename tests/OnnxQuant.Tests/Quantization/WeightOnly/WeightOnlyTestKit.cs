using OnnxQuant.Tests.Support;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Quantization.WeightOnly;
using OnnxQuant.Runtime;

namespace OnnxQuant.Tests.Quantization.WeightOnly;

/// <summary>
/// Helpers for the weight-only tests: an independent round-to-nearest block quantizer (written here from the
/// formulas in the pass's documentation, not calling it), a float64 reference product, and ORT's optimized graph.
/// </summary>
internal static class WeightOnlyTestKit
{
    /// <summary>
    /// Fake-quantizes <paramref name="w"/> [K, N] (MatMul B) in blocks of <paramref name="block"/> along K:
    /// symmetric s = m / −2^(b−1) (m the signed value of largest magnitude), codes clamped to [−2^(b−1), 2^(b−1)−1];
    /// asymmetric s = (max − min)/(2^b − 1) over the block widened to 0, z = round(−min/s).
    /// </summary>
    public static double[] FakeQuantKn(float[] w, int k, int n, int bits, int block, bool symmetric)
    {
        var result = new double[w.Length];
        int half = 1 << (bits - 1), qmax = (1 << bits) - 1;
        for (int col = 0; col < n; col++)
            for (int start = 0; start < k; start += block)
            {
                int end = Math.Min(k, start + block);
                var values = Enumerable.Range(start, end - start).Select(r => w[r * n + col]).ToArray();
                double scale, zero;
                int lo, hi;
                if (symmetric)
                {
                    float m = values.OrderByDescending(Math.Abs).First();
                    scale = (float)(m / -(double)half);
                    zero = 0; lo = -half; hi = half - 1;
                }
                else
                {
                    float min = Math.Min(0, values.Min()), max = Math.Max(0, values.Max());
                    scale = (float)((max - (double)min) / qmax);
                    zero = Math.Clamp(Math.Round(-min / (float)scale, MidpointRounding.ToEven), 0, qmax); lo = 0; hi = qmax;
                }
                for (int r = start; r < end; r++)
                {
                    double q = scale == 0 ? zero : Math.Clamp(Math.Round((float)(w[r * n + col] / (float)scale), MidpointRounding.ToEven) + zero, lo, hi);
                    result[r * n + col] = (q - zero) * scale;
                }
            }
        return result;
    }

    /// <summary>[K, N] → [N, K] and back.</summary>
    public static float[] Transpose(float[] w, int rows, int cols)
    {
        var t = new float[w.Length];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
        return t;
    }

    public static double[] Transpose(double[] w, int rows, int cols)
    {
        var t = new double[w.Length];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
        return t;
    }

    /// <summary>x [M, K] · w [K, N] (+ bias [N]) in float64, and Σ|x|·|w| per element (the scale of float rounding error).</summary>
    public static (double[] Y, double[] Magnitude) Product(float[] x, double[] w, int m, int k, int n, double[]? bias = null)
    {
        var y = new double[m * n];
        var mag = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = bias?[j] ?? 0, abs = Math.Abs(bias?[j] ?? 0);
                for (int l = 0; l < k; l++) { sum += x[i * k + l] * w[l * n + j]; abs += Math.Abs(x[i * k + l] * w[l * n + j]); }
                y[i * n + j] = sum;
                mag[i * n + j] = abs;
            }
        return (y, mag);
    }

    /// <summary>|expected − actual| ≤ relTol·Σ|x·w| for every element: float accumulation error only, no quantization error.</summary>
    public static void Matches((double[] Y, double[] Magnitude) expected, Tensor actual, double relTol, string what)
    {
        var a = actual.ToFloatArray();
        Assert.Equal(expected.Y.Length, a.Length);
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(expected.Y[i] - a[i]) <= relTol * expected.Magnitude[i] + 1e-6,
                $"{what}[{i}]: reference {expected.Y[i]:G6}, ORT {a[i]:G6} (allowed {relTol * expected.Magnitude[i]:G3}).");
    }

    public static (PassContext Context, List<string> Log) Run(Model model, QuantizeWeightsOptions options)
    {
        var log = new List<string>();
        var context = new PassContext(log: log.Add) { CurrentPass = "quantize-weights" };
        VerifiedPass.Run(new QuantizeWeightsPass(), model, options, context);
        return (context, log);
    }

    public static long Counter(PassContext context, string name) => context.Counters.GetValueOrDefault("quantize-weights." + name);

    /// <summary>The graph ORT runs (all optimizations on) as written to OptimizedModelFilePath.</summary>
    public static Model Optimized(Model model, IReadOnlyDictionary<string, string>? config = null)
    {
        var folder = Directory.CreateTempSubdirectory("onnxquant-wonly-");
        try
        {
            string path = Path.Combine(folder.FullName, "optimized.onnx");
            using (ModelRunner.FromModel(model, new RunnerOptions
                   {
                       Optimization = OptimizationLevel.All, OptimizedModelPath = path,
                       SessionConfig = config ?? new Dictionary<string, string>(),
                   })) { }
            return OnnxReader.Read(File.ReadAllBytes(path));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
