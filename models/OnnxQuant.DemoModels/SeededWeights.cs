using OnnxQuant.Ir;

namespace OnnxQuant.DemoModels;

/// <summary>
/// Deterministic pseudo-random weights for generated models: the same seed gives the same bytes on every machine
/// (System.Random with a seed is a fixed algorithm). Tensors are made lazily (<see cref="GeneratedWeightStorage"/>):
/// all draw from one random sequence in the order <see cref="Normal(double, double, long[])"/> was called, and the
/// writer, which writes initializers in that same order, pulls each one's values straight into the file, so a model
/// larger than memory is generated in about one chunk of memory. A tensor read in memory (by a test, a pass) is made
/// then, with every earlier one still pending, and kept: the values never depend on the order tensors are read.
/// </summary>
public sealed class SeededWeights(int seed)
{
    private readonly List<GeneratedWeightStorage> _pending = [];
    private Random _random = new(seed);
    private int _next;
    // Tensors are made from one random sequence in order, on first read: two threads reading two tensors for the
    // first time (a pass editing layers in parallel) would interleave the sequence and get other values each run.
    private readonly Lock _gate = new();

    /// <summary>Element type of the tensors made: Float, or Float16 (each float32 value rounded to nearest).</summary>
    public DataType ElementType { get; init; } = DataType.Float;

    /// <summary>Normally distributed values (Box–Muller) with the given mean and standard deviation.</summary>
    public Tensor Normal(double std, params long[] dims) => Normal(0, std, dims);

    public Tensor Normal(double mean, double std, params long[] dims)
    {
        long n = 1;
        foreach (long d in dims) n *= d;
        var storage = new GeneratedWeightStorage(this, _pending.Count, mean, std, n, ElementType);
        _pending.Add(storage);
        return new Tensor(ElementType, dims, storage);
    }

    /// <summary>
    /// Writes tensor <paramref name="index"/>'s bytes to <paramref name="destination"/>: straight from the random
    /// sequence when it is the next one due (nothing kept), else from memory (made, with the ones before it, and kept).
    /// </summary>
    internal void Stream(int index, Stream destination)
    {
        lock (_gate) StreamLocked(index, destination);
    }

    private void StreamLocked(int index, Stream destination)
    {
        if (index != _next)
        {
            destination.Write(MaterializeLocked(index).Span);
            return;
        }
        var s = _pending[index];
        const int chunk = 1 << 18;   // even: a Box–Muller pair never straddles two chunks
        var values = new float[(int)Math.Min(chunk, s.Count)];
        var bytes = new byte[s.ElementType.ByteLength(values.Length)];
        for (long done = 0; done < s.Count; done += chunk)
        {
            int n = (int)Math.Min(chunk, s.Count - done);
            Fill(_random, values.AsSpan(0, n), s.Mean, s.Std);
            destination.Write(Encode(values.AsSpan(0, n), s.ElementType, bytes));
        }
        _next++;
    }

    /// <summary>Tensor <paramref name="index"/>'s bytes in memory, made (with every pending one before it) on first use.</summary>
    internal ReadOnlyMemory<byte> Materialize(int index)
    {
        lock (_gate) return MaterializeLocked(index);
    }

    private ReadOnlyMemory<byte> MaterializeLocked(int index)
    {
        var s = _pending[index];
        if (s.Bytes is { } kept) return kept;
        if (index < _next)
        {
            // Streamed to a file and not kept: replay the sequence from the seed up to it (rare: a read after writing).
            var replay = new Random(seed);
            for (int i = 0; i < index; i++) Fill(replay, new float[_pending[i].Count], 0, 0);
            return s.Bytes = Make(replay, s);
        }
        for (; _next <= index; _next++) _pending[_next].Bytes ??= Make(_random, _pending[_next]);
        return s.Bytes!;
    }

    private static byte[] Make(Random random, GeneratedWeightStorage s)
    {
        var values = new float[s.Count];
        Fill(random, values, s.Mean, s.Std);
        var bytes = new byte[s.ElementType.ByteLength(s.Count)];
        Encode(values, s.ElementType, bytes);
        return bytes;
    }

    private static void Fill(Random random, Span<float> data, double mean, double std)
    {
        for (int i = 0; i < data.Length; i += 2)
        {
            double u1 = 1.0 - random.NextDouble();
            double u2 = random.NextDouble();
            double r = Math.Sqrt(-2.0 * Math.Log(u1));
            data[i] = (float)(mean + std * r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < data.Length) data[i + 1] = (float)(mean + std * r * Math.Sin(2 * Math.PI * u2));
        }
    }

    private static ReadOnlySpan<byte> Encode(ReadOnlySpan<float> values, DataType type, Span<byte> bytes)
    {
        if (type == DataType.Float)
        {
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(values).CopyTo(bytes);
            return bytes[..(values.Length * 4)];
        }
        if (type != DataType.Float16) throw new NotSupportedException($"Seeded weights are float or float16, not {type.OnnxName()}.");
        for (int i = 0; i < values.Length; i++)
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(bytes[(i * 2)..], Ir.Numerics.HalfBits.FromFloat(values[i]));
        return bytes[..(values.Length * 2)];
    }
}

/// <summary>The bytes of one <see cref="SeededWeights"/> tensor, made when first read or written (see there).</summary>
public sealed class GeneratedWeightStorage : TensorStorage
{
    private readonly SeededWeights _owner;
    private readonly int _index;

    internal GeneratedWeightStorage(SeededWeights owner, int index, double mean, double std, long count, DataType type)
    {
        _owner = owner;
        _index = index;
        Mean = mean;
        Std = std;
        Count = count;
        ElementType = type;
    }

    internal double Mean { get; }
    internal double Std { get; }
    internal long Count { get; }
    internal DataType ElementType { get; }

    /// <summary>The bytes once made in memory; null while pending or when streamed straight to a file.</summary>
    internal byte[]? Bytes { get; set; }

    public override long Length => ElementType.ByteLength(Count);

    public override ReadOnlyMemory<byte> Memory => _owner.Materialize(_index);

    public override void CopyTo(Stream destination)
    {
        if (Bytes is { } kept) destination.Write(kept);
        else _owner.Stream(_index, destination);
    }
}
