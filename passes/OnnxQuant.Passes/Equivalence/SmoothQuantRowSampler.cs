using OnnxQuant.Ir;
using OnnxQuant.Runtime.Evaluation;

namespace OnnxQuant.Passes.Equivalence;

/// <summary>
/// The activation rows <c>alpha: auto</c> measures its error on (<see cref="SmoothQuantAlphaSearch"/>), taken from the
/// calibration collector's run as it observes each batch (<see cref="Runtime.Calibration.CollectorOptions.Tap"/>), so
/// the rows come from whichever run the collector makes: the whole model in one ONNX Runtime session, or one block at a
/// time for a model larger than memory. Per activation: up to <c>maxRows</c> rows (last axis = K; for a channel axis 1,
/// each pixel's channel vector, the rows a 1×1 convolution multiplies by its weight), every stride-th row in data order,
/// the stride from the first batch's rows per sample and the data's sample count. Each tensor sees its batches in data
/// order on either run, so the rows are the same.
/// </summary>
/// <remarks>Thread-safe as the collector calls it: each activation's state is its own, touched by one observer thread at a
/// time; the table of states is fixed before the run.</remarks>
internal sealed class SmoothQuantRowSampler
{
    private sealed class State(Value activation, int channelAxis, int maxRows)
    {
        public readonly Value Activation = activation;
        public readonly int ChannelAxis = channelAxis;
        public List<float[]>? Rows = new(Math.Min(maxRows, 1024));
        public long Seen;
        public long Stride;
    }

    private readonly int _maxRows;
    private readonly Dictionary<string, State> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<Value, State> _byValue = [];

    /// <summary>Samples <paramref name="requested"/> (each with its channel axis: −1, the last, for a MatMul/Gemm input; 1 for an
    /// NC… Conv input) at most <paramref name="maxRows"/> rows each.</summary>
    public SmoothQuantRowSampler(IEnumerable<(Value Activation, int ChannelAxis)> requested, int maxRows)
    {
        _maxRows = maxRows;
        foreach (var (activation, axis) in requested)
        {
            var state = new State(activation, axis, maxRows);
            _byName.Add(activation.Name!, state);
            _byValue.Add(activation, state);
        }
    }

    /// <summary>True when <paramref name="activation"/> is sampled.</summary>
    public bool Samples(Value activation) => _byValue.ContainsKey(activation);

    /// <summary>The collector's tap: keeps this batch's rows of a sampled activation (others are ignored).</summary>
    public void Observe(string name, DataType type, ReadOnlySpan<long> dims, ReadOnlySpan<byte> bytes, long batchSamples, long dataSamples)
    {
        if (!_byName.TryGetValue(name, out var state) || state.Rows is not { } kept) return;
        var data = FloatValues.Of(type, bytes);
        int axis = state.ChannelAxis < 0 ? dims.Length - 1 : state.ChannelAxis;
        int k = checked((int)dims[axis]);
        long count = data.Length / k;
        if (state.Stride == 0)
        {
            long total = count / Math.Max(1, batchSamples) * dataSamples;
            state.Stride = Math.Max(1, (total + _maxRows - 1) / _maxRows);
        }
        // Rows are copied one at a time from ORT's buffer (read in place: a managed copy of every exposed activation of a
        // batch is hundreds of megabytes on a ViT-B, fresh pages each batch, for the few rows kept); channels first
        // (N, C, H·W… → N·H·W… rows of C) gathers only the pixels kept.
        for (long r = 0; r < count && kept.Count < _maxRows; r++, state.Seen++)
            if (state.Seen % state.Stride == 0)
                kept.Add(axis == dims.Length - 1 ? data.Slice((int)(r * k), k).ToArray() : PixelRow(data, dims, axis, r));
    }

    /// <summary>The rows sampled of <paramref name="activation"/>, handed over once: the sampler keeps no reference after.</summary>
    public float[][] Take(Value activation)
    {
        var state = _byValue[activation];
        var rows = state.Rows ?? throw new InvalidOperationException($"The rows of {activation} were taken already.");
        state.Rows = null;
        return rows.ToArray();
    }

    /// <summary>Row <paramref name="r"/> of [outer, C, inner] read channels-last: the C values of pixel r (r = o·inner + n).</summary>
    private static float[] PixelRow(ReadOnlySpan<float> data, ReadOnlySpan<long> dims, int axis, long r)
    {
        long inner = 1;
        for (int i = axis + 1; i < dims.Length; i++) inner *= dims[i];
        int c = checked((int)dims[axis]);
        long o = r / inner, n = r % inner;
        var row = new float[c];
        for (int j = 0; j < c; j++) row[j] = data[(int)((o * c + j) * inner + n)];
        return row;
    }
}
