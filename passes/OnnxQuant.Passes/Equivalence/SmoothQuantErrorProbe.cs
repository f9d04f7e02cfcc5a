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
    }

    private int Blocks => (_x.Length + BlockRows - 1) / BlockRows;

    private (int From, int To) BlockRange(int block) => (block * BlockRows, Math.Min(_x.Length, (block + 1) * BlockRows));

    public double Error(double[] xMin, double[] xMax, float[] s)
    {
        var (lo, hi) = _quantizer.Range(_candidates, xMin, xMax, s);
        var (aScale, aZero) = QdqMath.ActivationParams((float)lo, (float)hi, _quantizer.ActivationType, _quantizer.SymmetricActivations);
        var (aMin, aMax) = QdqMath.IntegerRange(_quantizer.ActivationType, _quantizer.SymmetricActivations);
        var quantizer = new RowQuantizer(s, aScale, aZero, aMin, aMax);
        var (codes, scales) = WeightCodes(s);
        var outputScale = Array.ConvertAll(scales, w => (double)aScale * w);
        var perRow = new double[_x.Length];
        Parallel.For(0, Blocks, () => new Scratch(BlockRows, _paddedK, _width, _int16), (block, _, scratch) =>
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
        }, _ => { });
        double total = 0;
        foreach (double e in perRow) total += e;
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
    /// and each channel's weight scale (per channel, or one per layer from every channel when per tensor).</summary>
    private (WeightCodeBuffer Codes, double[] Scales) WeightCodes(float[] s)
    {
        int qmax = (1 << (_quantizer.WeightBits - 1)) - 1;
        var sd = Array.ConvertAll(s, v => (double)v);
        var scales = new double[_width];
        var buffer = new WeightCodeBuffer(_int16 ? new short[_width * _paddedK] : null, _int16 ? [] : new int[_width * _paddedK]);
        var layerOf = new int[_width];
        var perTensor = new double[_layers.Count];
        for (int li = 0, at = 0; li < _layers.Count; li++)
        {
            for (int c = 0; c < _columns[li].Length; c++) layerOf[at++] = li;
            if (_quantizer.PerChannelWeights) continue;
            var layer = _layers[li];
            for (int n = 0; n < layer.N; n++)
                for (int j = 0; j < _k; j++) perTensor[li] = Math.Max(perTensor[li], Math.Abs((double)layer.Rows[(long)n * _k + j] * s[j]));
        }
        Parallel.For(0, _width, () => new double[_k], (at, _, scaled) =>
        {
            var w = _weights.AsSpan(at * _k, _k);
            double m = 0;
            for (int j = 0; j < _k; j++) m = Math.Max(m, Math.Abs(scaled[j] = w[j] * sd[j]));
            double scale = (_quantizer.PerChannelWeights ? m : perTensor[layerOf[at]]) / qmax;
            scales[at] = scale;
            if (scale == 0) return scaled;
            for (int j = 0; j < _k; j++)
            {
                int code = (int)Math.Clamp(Math.Round(scaled[j] / scale, MidpointRounding.ToEven), -qmax, qmax);
                if (buffer.Int16 is { } shorts) shorts[at * _paddedK + j] = (short)code;
                else buffer.Int32[at * _paddedK + j] = code;
            }
            return scaled;
        }, _ => { });
        return (buffer, scales);
    }

    private sealed record WeightCodeBuffer(short[]? Int16, int[] Int32);
}
