using System.Globalization;
using OnnxQuant.Ir;
using OnnxQuant.Runtime;
using Xunit.Sdk;

namespace OnnxQuant.Tests.Support;

/// <summary>
/// Compares what models compute in ONNX Runtime (CPU, graph optimizations off, so ORT's own rewrites cannot hide or
/// cause a difference). The measure is max|a−b| / max|a| over each output (a = expected); a failure names the output,
/// the worst element and both values.
/// </summary>
public static class NumericAssert
{
    private static readonly RunnerOptions Unoptimized = new() { Optimization = OptimizationLevel.None };

    /// <summary>
    /// Runs <paramref name="before"/> and <paramref name="after"/> on the same feeds (each model gets the feeds it has
    /// inputs for, so a pass may drop an unused input) and checks that both have the same outputs, by name and in
    /// order, within <paramref name="relTol"/>. Returns the outputs of <paramref name="before"/>.
    /// </summary>
    public static IReadOnlyDictionary<string, Tensor> SameOutputs(Model before, Model after,
        IReadOnlyDictionary<string, Tensor> feeds, double relTol)
    {
        var expected = Run(before, feeds);
        var actual = Run(after, feeds);
        Assert.Equal(before.Graph.Outputs.Select(v => v.Name), after.Graph.Outputs.Select(v => v.Name));
        foreach (var (name, e) in expected)
            Close(e, actual[name], relTol, $"output '{name}'");
        return expected;
    }

    /// <summary>Runs a model in ORT with graph optimizations off, feeding only the inputs it declares.</summary>
    public static IReadOnlyDictionary<string, Tensor> Run(Model model, IReadOnlyDictionary<string, Tensor> feeds)
    {
        using var runner = ModelRunner.FromModel(model, Unoptimized);
        var own = runner.InputNames.ToDictionary(n => n, n => feeds.TryGetValue(n, out var t)
            ? t : throw new XunitException($"No feed for input '{n}'."));
        return runner.Run(own);
    }

    /// <summary>Both runs have the same outputs, each within <paramref name="relTol"/> by <see cref="Close"/>'s measure.</summary>
    public static void SameOutputs(IReadOnlyDictionary<string, Tensor> expected, IReadOnlyDictionary<string, Tensor> actual,
        double relTol, string what = "")
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, e) in expected)
            Close(e, actual[name], relTol, $"{what} output '{name}'".Trim());
    }

    /// <summary>
    /// Checks one tensor against another: same element type and dimensions, NaN exactly where expected has NaN, and
    /// max|a−b| / max|a| ≤ <paramref name="relTol"/> (an all-zero expected tensor needs max|a−b| ≤ relTol). Types
    /// that do not read as numbers (strings, 8-, 4- and 2-bit formats) must match byte for byte.
    /// </summary>
    public static void Close(Tensor expected, Tensor actual, double relTol, string what = "tensor")
    {
        if (expected.ElementType != actual.ElementType || !expected.Dims.SequenceEqual(actual.Dims))
            throw new XunitException($"{what}: expected {expected}, got {actual}.");
        if (ToDoubles(expected) is not { } a || ToDoubles(actual) is not { } b)
        {
            if (!expected.ContentEquals(actual)) throw new XunitException($"{what}: {expected} contents differ.");
            return;
        }
        double scale = 0, worst = 0;
        int worstAt = -1;
        for (int i = 0; i < a.Length; i++)
        {
            if (double.IsNaN(a[i]) != double.IsNaN(b[i]))
                throw new XunitException($"{what}: element {Index(expected.Dims, i)} is {Format(b[i])}, expected {Format(a[i])}.");
            if (double.IsNaN(a[i])) continue;
            if (double.IsInfinity(a[i]) || double.IsInfinity(b[i]))
            {
                if (a[i] != b[i]) throw new XunitException($"{what}: element {Index(expected.Dims, i)} is {Format(b[i])}, expected {Format(a[i])}.");
                continue;
            }
            scale = Math.Max(scale, Math.Abs(a[i]));
            double d = Math.Abs(a[i] - b[i]);
            if (d > worst) (worst, worstAt) = (d, i);
        }
        double error = scale > 0 ? worst / scale : worst;
        if (error > relTol)
            throw new XunitException(
                $"{what}: max|a-b|/max|a| = {Format(error)} > {Format(relTol)}; worst at element {Index(expected.Dims, worstAt)}: " +
                $"got {Format(b[worstAt])}, expected {Format(a[worstAt])} (max|a| = {Format(scale)}).");
    }

    /// <summary>The elements as doubles, for types that convert exactly; null for the others.</summary>
    public static double[]? ToDoubles(Tensor t) => t.ElementType switch
    {
        DataType.Float => Array.ConvertAll(t.AsSpan<float>().ToArray(), v => (double)v),
        DataType.Double => t.AsSpan<double>().ToArray(),
        DataType.Float16 => Array.ConvertAll(t.AsSpan<Half>().ToArray(), v => (double)v),
        DataType.BFloat16 => Array.ConvertAll(t.AsSpan<ushort>().ToArray(), v => (double)BitConverter.Int32BitsToSingle(v << 16)),
        DataType.Int8 => Array.ConvertAll(t.AsSpan<sbyte>().ToArray(), v => (double)v),
        DataType.UInt8 or DataType.Bool => Array.ConvertAll(t.AsSpan<byte>().ToArray(), v => (double)v),
        DataType.Int16 => Array.ConvertAll(t.AsSpan<short>().ToArray(), v => (double)v),
        DataType.UInt16 => Array.ConvertAll(t.AsSpan<ushort>().ToArray(), v => (double)v),
        DataType.Int32 => Array.ConvertAll(t.AsSpan<int>().ToArray(), v => (double)v),
        DataType.UInt32 => Array.ConvertAll(t.AsSpan<uint>().ToArray(), v => (double)v),
        // 64-bit integers beyond 2^53 would round: compare those byte for byte.
        DataType.Int64 => t.AsSpan<long>().ToArray() is var l && l.All(v => Math.Abs(v) < (1L << 53)) ? Array.ConvertAll(l, v => (double)v) : null,
        DataType.UInt64 => t.AsSpan<ulong>().ToArray() is var u && u.All(v => v < (1UL << 53)) ? Array.ConvertAll(u, v => (double)v) : null,
        _ => null,
    };

    private static string Index(IReadOnlyList<long> dims, int flat)
    {
        var idx = new long[dims.Count];
        long rest = flat;
        for (int i = dims.Count - 1; i >= 0; i--)
        {
            if (dims[i] == 0) break;
            idx[i] = rest % dims[i];
            rest /= dims[i];
        }
        return "[" + string.Join(",", idx) + "]";
    }

    private static string Format(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}
