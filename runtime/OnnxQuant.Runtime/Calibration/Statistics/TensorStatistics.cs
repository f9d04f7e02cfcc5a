using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Numerics;

namespace OnnxQuant.Runtime.Calibration.Statistics;

/// <summary>
/// Everything observed about one tensor (keyed by its name in the model being calibrated): the observer for that
/// tensor and, once saved, its statistics. Which parts exist follows the <see cref="ObserverSpec"/> it was created
/// with; the per-channel part appears with the first batch (the channel count comes from the data).
/// </summary>
public sealed class TensorStatistics
{
    private float[] _convert = [];

    public TensorStatistics(string name, ObserverSpec spec)
    {
        Name = name;
        Spec = spec;
        MinMax = new MinMaxStatistic(spec.MovingAverage, spec.AveragingConstant);
        if (spec.Histogram != HistogramKind.None)
            Histogram = new Histogram(spec.HistogramResolution, spec.Histogram == HistogramKind.Absolute);
    }

    public string Name { get; }
    public ObserverSpec Spec { get; private set; }

    /// <summary>Element type of the observed tensor (float, float16, bfloat16 or double); Undefined before any data.</summary>
    public DataType ElementType { get; private set; }

    /// <summary>Shape of the last batch observed (for reports).</summary>
    public long[] LastShape { get; private set; } = [];

    /// <summary>Batches observed.</summary>
    public long Batches { get; private set; }

    public MinMaxStatistic MinMax { get; private set; }
    public Histogram? Histogram { get; private set; }
    public ChannelStatistics? Channels { get; private set; }
    public SecondMomentStatistic? SecondMoment { get; private set; }
    public TokenStatistics? Tokens { get; private set; }

    /// <summary>True for the element types an observer reads (other tensors, e.g. int64 indices, are not calibrated).</summary>
    public static bool CanObserve(DataType type) =>
        type is DataType.Float or DataType.Float16 or DataType.BFloat16 or DataType.Double;

    /// <summary>Observes one batch given as raw little-endian bytes (e.g. straight from ONNX Runtime's buffer).</summary>
    public void Observe(DataType type, ReadOnlySpan<long> dims, ReadOnlySpan<byte> raw)
    {
        if (ElementType != DataType.Undefined && type != ElementType)
            throw new OnnxQuantException($"Tensor '{Name}' was {ElementType.OnnxName()} in earlier batches and is {type.OnnxName()} now.");
        long n = 1;
        foreach (long d in dims) n *= d;
        ReadOnlySpan<float> values;
        switch (type)
        {
            case DataType.Float:
                values = MemoryMarshal.Cast<byte, float>(raw);
                break;
            case DataType.Float16:
            {
                var target = Buffer(n);
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(raw), target);
                values = target;
                break;
            }
            case DataType.BFloat16:
            {
                var target = Buffer(n);
                for (int i = 0; i < target.Length; i++) target[i] = BFloat16Bits.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(raw[(i * 2)..]));
                values = target;
                break;
            }
            case DataType.Double:
            {
                var target = Buffer(n);
                var source = MemoryMarshal.Cast<byte, double>(raw);
                for (int i = 0; i < target.Length; i++) target[i] = (float)source[i];
                values = target;
                break;
            }
            default:
                throw new OnnxQuantException($"Tensor '{Name}' is {type.OnnxName()}; only floating-point tensors (float, float16, bfloat16, double) are calibrated.");
        }
        if (values.Length != n)
            throw new ArgumentException($"Tensor '{Name}': {values.Length} values for shape [{string.Join(",", dims.ToArray())}].");
        ElementType = type;
        Observe(values, dims);
    }

    public void Observe(OnnxQuant.Ir.Tensor tensor) => Observe(tensor.ElementType, tensor.Dims.ToArray(), tensor.RawData.Span);

    /// <summary>Observes one batch of values laid out as <paramref name="dims"/>.</summary>
    public void Observe(ReadOnlySpan<float> values, ReadOnlySpan<long> dims)
    {
        if (ElementType == DataType.Undefined) ElementType = DataType.Float;
        // One scan of the batch serves min/max and the histogram (signed, or of magnitudes).
        bool allFinite = FloatScan.Scan(values, out float lo, out float hi, out float absLo, out float absHi, out double sumAbs);
        MinMax.Add(values, allFinite, lo, hi, sumAbs);
        if (Histogram is { } histogram)
        {
            if (histogram.Absolute) histogram.Add(values, allFinite, absLo, absHi);
            else histogram.Add(values, allFinite, lo, hi);
        }
        if (Spec.ChannelAxis is int requested)
        {
            int axis = requested < 0 ? requested + dims.Length : requested;
            if (axis < 0 || axis >= dims.Length)
                throw new OnnxQuantException($"Tensor '{Name}' has rank {dims.Length}; channel axis {requested} is out of range.");
            Channels ??= new ChannelStatistics(axis, checked((int)dims[axis]), Spec.ChannelHistogram, Spec.ChannelHistogramResolution,
                Spec.MovingAverage, Spec.AveragingConstant);
            Channels.Add(values, dims);
        }
        if (Spec.SecondMoment)
        {
            if (dims.Length == 0) throw new OnnxQuantException($"Tensor '{Name}' is a scalar; Σxxᵀ needs a last axis.");
            SecondMoment ??= new SecondMomentStatistic(checked((int)dims[^1]));
            if (dims[^1] != SecondMoment.K)
                throw new OnnxQuantException($"Tensor '{Name}' had a last axis of {SecondMoment.K} and has {dims[^1]} now.");
            SecondMoment.Add(values);
        }
        if (Spec.Tokens)
        {
            if (dims.Length == 0) throw new OnnxQuantException($"Tensor '{Name}' is a scalar; per-token statistics need a last axis.");
            Tokens ??= new TokenStatistics(checked((int)dims[^1]), Spec.ChannelHistogramResolution);
            if (dims[^1] != Tokens.Hidden)
                throw new OnnxQuantException($"Tensor '{Name}' had a last axis of {Tokens.Hidden} and has {dims[^1]} now.");
            Tokens.Add(values);
        }
        LastShape = dims.ToArray();
        Batches++;
    }

    /// <summary>Adds another shard's statistics for the same tensor; the parts either side lacks are taken as they are.</summary>
    public void Merge(TensorStatistics other)
    {
        if (other.Name != Name) throw new ArgumentException($"Cannot merge statistics of '{other.Name}' into '{Name}'.", nameof(other));
        if (ElementType != DataType.Undefined && other.ElementType != DataType.Undefined && ElementType != other.ElementType)
            throw new ArgumentException($"Tensor '{Name}' is {ElementType.OnnxName()} in one shard and {other.ElementType.OnnxName()} in the other.");
        MinMax.Merge(other.MinMax);
        Histogram = MergePart(Histogram, other.Histogram, (a, b) => a.Merge(b), h => h.Clone());
        Channels = MergePart(Channels, other.Channels, (a, b) => a.Merge(b), c => c.Clone());
        SecondMoment = MergePart(SecondMoment, other.SecondMoment, (a, b) => a.Merge(b), s => s.Clone());
        Tokens = MergePart(Tokens, other.Tokens, (a, b) => a.Merge(b), t => t.Clone());
        if (ElementType == DataType.Undefined) ElementType = other.ElementType;
        if (other.Batches > 0) LastShape = other.LastShape;
        Batches += other.Batches;
        Spec = Spec.Union(other.Spec);
    }

    public TensorStatistics Clone()
    {
        var c = new TensorStatistics(Name, Spec with { Histogram = HistogramKind.None });
        c.Merge(this);
        c.Spec = Spec;
        return c;
    }

    internal static TensorStatistics Restore(string name, ObserverSpec spec, DataType elementType, long[] lastShape, long batches,
        MinMaxStatistic minMax, Histogram? histogram, ChannelStatistics? channels, SecondMomentStatistic? secondMoment, TokenStatistics? tokens) =>
        new(name, spec with { Histogram = HistogramKind.None })
        {
            Spec = spec,
            ElementType = elementType,
            LastShape = lastShape,
            Batches = batches,
            MinMax = minMax,
            Histogram = histogram,
            Channels = channels,
            SecondMoment = secondMoment,
            Tokens = tokens,
        };

    private static T? MergePart<T>(T? mine, T? theirs, Action<T, T> merge, Func<T, T> clone) where T : class
    {
        if (theirs is null) return mine;
        if (mine is null) return clone(theirs);
        merge(mine, theirs);
        return mine;
    }

    private Span<float> Buffer(long n)
    {
        if (_convert.Length < n) _convert = new float[n];
        return _convert.AsSpan(0, (int)n);
    }
}
