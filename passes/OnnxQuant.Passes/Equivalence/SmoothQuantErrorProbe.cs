using System.Runtime.Intrinsics;
using OnnxQuant.Ir;
using OnnxQuant.Passes.Numerics;
using OnnxQuant.Passes.Quantization;

namespace OnnxQuant.Passes.Equivalence;

/// <summary>
/// The output error Σ_rows ‖x·B − Q_a(x/s)·Q_w(diag(s)·B)‖² of one activation's layers, for many s (the α search of
/// <see cref="SmoothQuantAlphaSearch"/>). What does not depend on s is computed once: the float outputs x·B (double,
/// summed in input-channel order, <see cref="ExactFloatProducts"/>), the fixed subset of output channels measured per
/// layer (every channel when the layer has at most maxColumns, else maxColumns spread by an even stride; a per-channel
/// weight quantizer treats output channels independently, so the subset's error is the same sum restricted to those
/// channels, while a per-tensor scale still comes from every channel), and the few values a percentile range can depend
/// on (<see cref="SmoothQuantPercentileCandidates"/>).
/// <para>
/// Per s: the activation range, the integer codes of x/s (vectorized QuantizeLinear, bit-identical to
/// <see cref="QdqMath.Quantize"/>) and of diag(s)·B, and their products as exact integer sums
/// (<see cref="Int16Products"/>; 8-bit activations and weights of at most 8 bits, otherwise 64-bit scalar sums, also
/// exact); the quantized output is then aScale·wScale·Σ codes·codes, one rounding to double. The work per s is
/// rows × K × measured channels multiply-adds of 16-bit integers. Rows are processed in blocks in parallel and each
/// row's error is summed alone; the total is summed in row order, so the result does not depend on the thread schedule.
/// </para>
/// </summary>
internal sealed class SmoothQuantErrorProbe
{
    private const int BlockRows = 32;

    /// <summary>Blocks per chunk: the bound of <see cref="Error"/> is checked after each chunk (128 rows).</summary>
    private const int ChunkBlocks = 4;

    private readonly System.Collections.Concurrent.ConcurrentBag<Scratch> _scratches = [];

    private readonly float[][] _x;
    private readonly int _k;
    private readonly int _paddedK;
    private readonly IReadOnlyList<SmoothQuantAlphaSearch.Layer> _layers;
    private readonly int[][] _columns;
    private readonly int _width;
    private readonly double[] _reference;   // [rows, width]
    private readonly double[] _weights;     // measured rows of B widened, [width, K]
    private readonly SmoothQuantQuantizer _quantizer;
    private readonly SmoothQuantQuantizer.RangeCandidates _candidates;
    private readonly bool _int16;
    private readonly int[] _layerOf;                // measured channel → its layer
    private readonly WeightCodeBuffer _weightCodes; // reused by every Error call
    private readonly double[] _weightScales;

    public SmoothQuantErrorProbe(float[][] x, IReadOnlyList<SmoothQuantAlphaSearch.Layer> layers, int maxColumns, SmoothQuantQuantizer quantizer)
    {
        _x = x;
        _layers = layers;
        _quantizer = quantizer;
        _k = layers[0].K;
        _paddedK = Int16Products.PaddedLength(_k);
        _columns = layers.Select(l => l.N <= maxColumns
            ? Enumerable.Range(0, l.N).ToArray()
            : Enumerable.Range(0, maxColumns).Select(i => (int)((long)i * l.N / maxColumns)).ToArray()).ToArray();
        _width = _columns.Sum(c => c.Length);
        int qmax = (1 << (quantizer.WeightBits - 1)) - 1;
        _int16 = quantizer.ActivationType is DataType.UInt8 or DataType.Int8 && quantizer.WeightBits <= 8
            && (long)_k * 255 * qmax < int.MaxValue;

        _weights = new double[(long)_width * _k];
        var transposed = new double[(long)_k * _width];
        int at = 0;
        for (int li = 0; li < layers.Count; li++)
            foreach (int n in _columns[li])
            {
                for (int j = 0; j < _k; j++)
                {
                    double w = layers[li].Rows[(long)n * _k + j];
                    _weights[(long)at * _k + j] = w;
                    transposed[(long)j * _width + at] = w;
                }
                at++;
            }
        var rows = new double[(long)x.Length * _k];
        for (int r = 0; r < x.Length; r++)
            for (int j = 0; j < _k; j++) rows[(long)r * _k + j] = x[r][j];
        _reference = new double[(long)x.Length * _width];
        Parallel.For(0, Blocks, block =>
        {
            var (from, to) = BlockRange(block);
            ExactFloatProducts.Multiply(rows, transposed, _reference, from, to, _width, _k);
        });
        _candidates = quantizer.Candidates(x);
        _layerOf = new int[_width];
        for (int li = 0, i = 0; li < layers.Count; li++)
            for (int c = 0; c < _columns[li].Length; c++) _layerOf[i++] = li;
        _weightCodes = new WeightCodeBuffer(_int16 ? new short[_width * _paddedK] : null, _int16 ? [] : new int[_width * _paddedK]);
        _weightScales = new double[_width];
    }

    private int Blocks => (_x.Length + BlockRows - 1) / BlockRows;

    private (int From, int To) BlockRange(int block) => (block * BlockRows, Math.Min(_x.Length, (block + 1) * BlockRows));

    /// <summary>The error with s = 1 for every channel: the layers as they are, without smoothing.</summary>
    public double Unsmoothed(double[] xMin, double[] xMax) => Error(xMin, xMax, Enumerable.Repeat(1f, _k).ToArray());

    /// <summary>
    /// The error for <paramref name="s"/>; +∞ as soon as the rows summed so far (in row order, chunk by chunk) exceed
    /// <paramref name="bound"/>: the α search passes its best error so far, and an s already worse on part of the rows
    /// cannot be chosen (the terms are non-negative, and adding non-negative doubles never lowers a sum). A total that is
    /// returned is the same sum, in the same order, as without a bound.
    /// </summary>
    public double Error(double[] xMin, double[] xMax, float[] s, double bound = double.PositiveInfinity)
    {
        var (lo, hi) = _quantizer.Range(_candidates, xMin, xMax, s);
        var (aScale, aZero) = QdqMath.ActivationParams((float)lo, (float)hi, _quantizer.ActivationType, _quantizer.SymmetricActivations);
        var (aMin, aMax) = QdqMath.IntegerRange(_quantizer.ActivationType, _quantizer.SymmetricActivations);
        var quantizer = new RowQuantizer(s, aScale, aZero, aMin, aMax);
        var (codes, scales) = WeightCodes(s);
        var outputScale = Array.ConvertAll(scales, w => (double)aScale * w);
        var perRow = new double[_x.Length];
        double total = 0;
        for (int chunk = 0; chunk < Blocks; chunk += ChunkBlocks)
        {
            Parallel.For(chunk, Math.Min(Blocks, chunk + ChunkBlocks), () => _scratches.TryTake(out var free) ? free : new Scratch(BlockRows, _paddedK, _width, _int16), (block, _, scratch) =>
            {
                var (from, to) = BlockRange(block);
                int rows = to - from;
                if (_int16)
                {
                    for (int r = 0; r < rows; r++) quantizer.Quantize(_x[from + r], scratch.Int16Codes.AsSpan(r * _paddedK, _k));
                    Int16Products.Multiply(scratch.Int16Codes, codes.Int16!, scratch.Products, 0, rows, _width, _paddedK);
                    for (int i = 0; i < rows * _width; i++) scratch.Sums[i] = scratch.Products[i];
                }
                else
                {
                    for (int r = 0; r < rows; r++) quantizer.Quantize(_x[from + r], scratch.Int32Codes.AsSpan(r * _paddedK, _k));
                    for (int r = 0; r < rows; r++)
                        for (int c = 0; c < _width; c++)
                        {
                            long sum = 0;
                            for (int j = 0; j < _k; j++) sum += (long)scratch.Int32Codes[r * _paddedK + j] * codes.Int32[c * _paddedK + j];
                            scratch.Sums[r * _width + c] = sum;
                        }
                }
                for (int r = 0; r < rows; r++)
                {
                    double e = 0;
                    long offset = (long)(from + r) * _width;
                    for (int c = 0; c < _width; c++)
                    {
                        double d = _reference[offset + c] - scratch.Sums[r * _width + c] * outputScale[c];
                        e += d * d;
                    }
                    perRow[from + r] = e;
                }
                return scratch;
            }, scratch => _scratches.Add(scratch));
            for (int r = BlockRange(chunk).From; r < BlockRange(Math.Min(Blocks, chunk + ChunkBlocks) - 1).To; r++) total += perRow[r];
            if (total > bound) return double.PositiveInfinity;
        }
        return total;
    }

    /// <summary>One worker's buffers for a block of rows (reused across blocks; the padding stays zero).</summary>
    private sealed class Scratch(int rows, int paddedK, int width, bool int16)
    {
        public readonly short[] Int16Codes = int16 ? new short[rows * paddedK] : [];
        public readonly int[] Int32Codes = int16 ? [] : new int[rows * paddedK];
        public readonly int[] Products = int16 ? new int[rows * width] : [];
        public readonly long[] Sums = new long[rows * width];
    }

    /// <summary>
    /// q(x_j / s_j) − z for a row: QuantizeLinear (x/s in float, divided by the scale in float, rounded half to even,
    /// plus the zero point, saturated), eight values at a time; the same codes as <see cref="QdqMath.Quantize"/>.
    /// </summary>
    private sealed class RowQuantizer(float[] s, float scale, int zero, int qmin, int qmax)
    {
        public void Quantize(float[] row, Span<short> codes)
        {
            int k = row.Length, j = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; j + 16 <= k; j += 16)
                    Vector256.Narrow(Codes(row, j), Codes(row, j + 8)).CopyTo(codes.Slice(j, 16));
            for (; j < k; j++) codes[j] = (short)(QdqMath.Quantize(row[j] / s[j], scale, zero, qmin, qmax) - zero);
        }

        public void Quantize(float[] row, Span<int> codes)
        {
            int k = row.Length, j = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; j + 8 <= k; j += 8) Codes(row, j).CopyTo(codes.Slice(j, 8));
            for (; j < k; j++) codes[j] = QdqMath.Quantize(row[j] / s[j], scale, zero, qmin, qmax) - zero;
        }

        private Vector256<int> Codes(float[] row, int j)
        {
            var v = Vector256.Create(row.AsSpan(j, 8)) / Vector256.Create(s.AsSpan(j, 8)) / Vector256.Create(scale);
            var q = Vector256.Min(Vector256.Max(Vector256.Round(v) + Vector256.Create((float)zero), Vector256.Create((float)qmin)), Vector256.Create((float)qmax));
            return Vector256.ConvertToInt32(q - Vector256.Create((float)zero));
        }
    }

    /// <summary>The measured output channels of diag(s)·B as symmetric integer codes ([width, padded K], zero padding)
    /// and each channel's weight scale (per channel, or one per layer from every channel when per tensor). The buffers
    /// are the probe's own, reused by every call (<see cref="Error"/> is called for one s at a time): fresh megabytes per
    /// α would be fresh pages each time.</summary>
    private (WeightCodeBuffer Codes, double[] Scales) WeightCodes(float[] s)
    {
        int qmax = (1 << (_quantizer.WeightBits - 1)) - 1;
        var sd = Array.ConvertAll(s, v => (double)v);
        var scales = _weightScales;
        var buffer = _weightCodes;
        var perTensor = new double[_layers.Count];
        for (int li = 0; li < _layers.Count; li++)
        {
            if (_quantizer.PerChannelWeights) continue;
            var layer = _layers[li];
            for (int n = 0; n < layer.N; n++)
                for (int j = 0; j < _k; j++) perTensor[li] = Math.Max(perTensor[li], Math.Abs((double)layer.Rows[(long)n * _k + j] * s[j]));
        }
        Parallel.For(0, _width, () => new double[_k], (at, _, scaled) =>
        {
            var w = _weights.AsSpan(at * _k, _k);
            double m = ScaleRow(w, sd, scaled);
            double scale = (_quantizer.PerChannelWeights ? m : perTensor[_layerOf[at]]) / qmax;
            scales[at] = scale;
            if (scale == 0)
            {
                // An all-zero channel: codes 0 (the buffer may hold another s's codes).
                if (buffer.Int16 is { } zeros) zeros.AsSpan(at * _paddedK, _k).Clear();
                else buffer.Int32.AsSpan(at * _paddedK, _k).Clear();
                return scaled;
            }
            RoundRow(scaled, scale, qmax);
            if (buffer.Int16 is { } shorts)
                for (int j = 0; j < _k; j++) shorts[at * _paddedK + j] = (short)scaled[j];
            else
                for (int j = 0; j < _k; j++) buffer.Int32[at * _paddedK + j] = (int)scaled[j];
            return scaled;
        }, _ => { });
        return (buffer, scales);
    }

    /// <summary>scaled[j] = w[j]·s[j] (double); returns max |scaled[j]|.</summary>
    private static double ScaleRow(ReadOnlySpan<double> w, double[] s, double[] scaled)
    {
        int k = w.Length, j = 0;
        double m = 0;
        if (Vector256.IsHardwareAccelerated && k >= 4)
        {
            var max = Vector256<double>.Zero;
            for (; j + 4 <= k; j += 4)
            {
                var v = Vector256.Create(w.Slice(j, 4)) * Vector256.Create(s.AsSpan(j, 4));
                v.CopyTo(scaled.AsSpan(j, 4));
                max = Vector256.Max(max, Vector256.Abs(v));
            }
            for (int i = 0; i < 4; i++) m = Math.Max(m, max[i]);
        }
        for (; j < k; j++) m = Math.Max(m, Math.Abs(scaled[j] = w[j] * s[j]));
        return m;
    }

    /// <summary>scaled[j] ← clamp(round-half-even(scaled[j] / scale), −qmax, qmax), in place (the division and rounding
    /// are IEEE operations: the same values as the scalar <see cref="Math.Round(double, MidpointRounding)"/>).</summary>
    private static void RoundRow(double[] scaled, double scale, int qmax)
    {
        int k = scaled.Length, j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var d = Vector256.Create(scale);
            var hi = Vector256.Create((double)qmax);
            for (; j + 4 <= k; j += 4)
            {
                var q = Vector256.Round(Vector256.Create(scaled.AsSpan(j, 4)) / d);
                Vector256.Min(Vector256.Max(q, -hi), hi).CopyTo(scaled.AsSpan(j, 4));
            }
        }
        for (; j < k; j++) scaled[j] = Math.Clamp(Math.Round(scaled[j] / scale, MidpointRounding.ToEven), -qmax, qmax);
    }

    private sealed record WeightCodeBuffer(short[]? Int16, int[] Int32);
}
