using System.Runtime.InteropServices;
using Google.Protobuf;
using OnnxQuant.Onnx.Proto;

namespace OnnxQuant.Ir.Serialization;

/// <summary>
/// Converts between ONNX <c>TensorProto</c> and <see cref="Tensor"/>. Reading accepts <c>raw_data</c>, every typed
/// field (including narrow types carried in <c>int32_data</c>, packed sub-byte types one byte per entry) and external
/// data (mapped, not read). Writing always uses <c>raw_data</c> (strings: <c>string_data</c>), which is what ONNX
/// Runtime reads fastest and what makes the output deterministic.
/// </summary>
internal static class TensorCodec
{
    public static Tensor Decode(TensorProto proto, string what, ExternalDataResolver? external)
    {
        if (!proto.HasDataType || !DataTypeInfo.IsDefined(proto.DataType))
            throw new OnnxFormatException($"{what} has element type {proto.DataType}, which ONNX does not define (1..26).");
        var type = (DataType)proto.DataType;
        if (proto.Segment is not null)
            throw new OnnxFormatException($"{what} is a segment of a larger tensor; segmented tensors are not supported.");
        long[] dims = proto.Dims.ToArray();
        long count = 1;
        foreach (long d in dims)
            if (d < 0) throw new OnnxFormatException($"{what} has a negative dimension in {Tensor.FormatDims(dims)}.");
        try
        {
            foreach (long d in dims) count = checked(count * d);
            if (type != DataType.String) _ = type.ByteLength(count);
        }
        catch (OverflowException)
        {
            throw new OnnxFormatException($"{what} has dimensions {Tensor.FormatDims(dims)}: more bytes than 64 bits can count. The file is damaged; re-export the model.");
        }
        var tensor = DecodeData(proto, type, dims, count, what, external);
        if (proto.HasDocString || proto.MetadataProps.Count > 0)
            tensor = tensor.WithAnnotations(proto.HasDocString ? proto.DocString : null,
                proto.MetadataProps.Select(m => new KeyValuePair<string, string>(m.Key, m.Value)).ToArray());
        if (UnknownFields.Of(proto) is { } unknown) tensor = tensor.WithUnknownFields(unknown);
        return tensor;
    }

    private static Tensor DecodeData(TensorProto p, DataType type, long[] dims, long count, string what, ExternalDataResolver? external)
    {
        if (type == DataType.String)
        {
            if (p.StringData.Count != count)
                throw new OnnxFormatException($"{what} is a string tensor of {count} elements but has {p.StringData.Count} strings.");
            return Tensor.FromStrings(dims, p.StringData.Select(s => s.ToByteArray()));
        }
        long byteLength = type.ByteLength(count);
        if (p.DataLocation == TensorProto.Types.DataLocation.External)
        {
            if (external is null) throw new OnnxFormatException($"{what} uses external data, which is not allowed here.");
            return new Tensor(type, dims, external.Resolve(p, what, byteLength));
        }
        if (p.HasRawData)
        {
            if (p.RawData.Length != byteLength)
                throw new OnnxFormatException(
                    $"{what} ({type.OnnxName()}{Tensor.FormatDims(dims)}) needs {byteLength} bytes of raw_data but has {p.RawData.Length}.");
            return new Tensor(type, dims, new MemoryTensorStorage(p.RawData.Memory));
        }
        byte[] bytes = DecodeTypedFields(p, type, count, byteLength, what);
        return new Tensor(type, dims, new MemoryTensorStorage(bytes));
    }

    private static byte[] DecodeTypedFields(TensorProto p, DataType type, long count, long byteLength, string what)
    {
        var bytes = new byte[byteLength];
        void Expect(int have, long want, string field)
        {
            if (have != want)
                throw new OnnxFormatException($"{what} ({type.OnnxName()}, {count} elements) needs {want} entries in {field} but has {have}.");
        }
        switch (type)
        {
            case DataType.Float or DataType.Complex64:
                Expect(p.FloatData.Count, type == DataType.Float ? count : 2 * count, "float_data");
                MemoryMarshal.AsBytes(p.FloatData.ToArray().AsSpan()).CopyTo(bytes);
                break;
            case DataType.Double or DataType.Complex128:
                Expect(p.DoubleData.Count, type == DataType.Double ? count : 2 * count, "double_data");
                MemoryMarshal.AsBytes(p.DoubleData.ToArray().AsSpan()).CopyTo(bytes);
                break;
            case DataType.Int64:
                Expect(p.Int64Data.Count, count, "int64_data");
                MemoryMarshal.AsBytes(p.Int64Data.ToArray().AsSpan()).CopyTo(bytes);
                break;
            case DataType.UInt64:
                Expect(p.Uint64Data.Count, count, "uint64_data");
                MemoryMarshal.AsBytes(p.Uint64Data.ToArray().AsSpan()).CopyTo(bytes);
                break;
            case DataType.UInt32:
                Expect(p.Uint64Data.Count, count, "uint64_data");
                for (int i = 0; i < count; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * 4), (uint)p.Uint64Data[i]);
                break;
            case DataType.Int32:
                Expect(p.Int32Data.Count, count, "int32_data");
                MemoryMarshal.AsBytes(p.Int32Data.ToArray().AsSpan()).CopyTo(bytes);
                break;
            case DataType.Int16 or DataType.UInt16 or DataType.Float16 or DataType.BFloat16:
                // 16-bit types (half floats as their bit patterns) are stored one per int32 entry.
                Expect(p.Int32Data.Count, count, "int32_data");
                for (int i = 0; i < count; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * 2), (ushort)p.Int32Data[i]);
                break;
            case DataType.Int8 or DataType.UInt8 or DataType.Bool or DataType.Float8E4M3FN or DataType.Float8E4M3FNUZ
                or DataType.Float8E5M2 or DataType.Float8E5M2FNUZ or DataType.Float8E8M0:
                Expect(p.Int32Data.Count, count, "int32_data");
                for (int i = 0; i < count; i++) bytes[i] = (byte)p.Int32Data[i];
                break;
            case DataType.Int4 or DataType.UInt4 or DataType.Float4E2M1 or DataType.Int2 or DataType.UInt2:
                // Sub-byte types: each int32 entry holds one byte that packs 2 (4-bit) or 4 (2-bit) elements.
                Expect(p.Int32Data.Count, byteLength, "int32_data");
                for (int i = 0; i < byteLength; i++) bytes[i] = (byte)p.Int32Data[i];
                break;
            default:
                throw new OnnxFormatException($"{what}: element type {type.OnnxName()} cannot be read from typed fields.");
        }
        return bytes;
    }

    /// <summary>Writes a tensor; <paramref name="externalize"/> may place its bytes in a data file instead of raw_data.</summary>
    public static TensorProto Encode(Tensor tensor, string? name, Func<Tensor, TensorProto, bool>? externalize = null)
    {
        var proto = new TensorProto { DataType = (int)tensor.ElementType };
        proto.Dims.AddRange(tensor.Dims);
        if (name is not null) proto.Name = name;
        if (tensor.DocString is not null) proto.DocString = tensor.DocString;
        foreach (var kv in tensor.Metadata) proto.MetadataProps.Add(new StringStringEntryProto { Key = kv.Key, Value = kv.Value });
        // Known fields set later still serialize before the unknown ones: protobuf writes unknown fields last.
        UnknownFields.Attach(proto, tensor.UnknownFields);
        if (tensor.ElementType == DataType.String)
        {
            foreach (var s in tensor.Strings) proto.StringData.Add(ByteString.CopyFrom(s));
            return proto;
        }
        if (externalize is not null && externalize(tensor, proto)) return proto;
        // Storage is immutable, so memory it hands out need not be copied; a mapped file may be unmapped before the
        // proto is written, so mapped bytes are copied.
        proto.RawData = tensor.Storage is { IsMapped: false } storage
            ? UnsafeByteOperations.UnsafeWrap(storage.Memory)
            : ByteString.CopyFrom(tensor.RawData.Span);
        return proto;
    }

    public static SparseTensorProto EncodeSparse(SparseTensor sparse, string? name)
    {
        var proto = new SparseTensorProto
        {
            Values = Encode(sparse.Values, name),
            Indices = Encode(sparse.Indices, null),
        };
        proto.Dims.AddRange(sparse.Dims);
        return proto;
    }

    public static Tensor DecodeSparse(SparseTensorProto proto, string what, ExternalDataResolver? external)
    {
        if (proto.Values is null || proto.Indices is null)
            throw new OnnxFormatException($"{what} is a sparse tensor without values or indices.");
        var sparse = new SparseTensor(Decode(proto.Values, what + " values", external),
            Decode(proto.Indices, what + " indices", external), proto.Dims.ToArray());
        try { return sparse.ToDense(); }
        catch (InvalidDataException e) { throw new OnnxFormatException($"{what}: {e.Message}"); }
    }
}
