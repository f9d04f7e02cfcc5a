using OnnxQuant.Onnx.Proto;

namespace OnnxQuant.Ir.Serialization;

/// <summary>Converts between ONNX <c>TypeProto</c> / <c>TensorShapeProto</c> and <see cref="IrType"/> / <see cref="Shape"/>.</summary>
internal static class TypeCodec
{
    public static IrType Decode(TypeProto proto)
    {
        IrType type = proto.ValueCase switch
        {
            TypeProto.ValueOneofCase.TensorType => new TensorType(
                (DataType)proto.TensorType.ElemType, proto.TensorType.Shape is { } s ? DecodeShape(s) : null),
            TypeProto.ValueOneofCase.SparseTensorType => new SparseTensorType(
                (DataType)proto.SparseTensorType.ElemType,
                proto.SparseTensorType.Shape is { } s2 ? DecodeShape(s2) : null),
            TypeProto.ValueOneofCase.SequenceType => new SequenceType(
                proto.SequenceType.ElemType is { } e ? Decode(e) : null),
            TypeProto.ValueOneofCase.MapType => new MapType(
                (DataType)proto.MapType.KeyType, proto.MapType.ValueType is { } v ? Decode(v) : null),
            TypeProto.ValueOneofCase.OptionalType => new OptionalType(
                proto.OptionalType.ElemType is { } o ? Decode(o) : null),
            TypeProto.ValueOneofCase.OpaqueType => new OpaqueType(
                proto.OpaqueType.HasDomain ? proto.OpaqueType.Domain : null,
                proto.OpaqueType.HasName ? proto.OpaqueType.Name : null),
            _ => new UnspecifiedType(),
        };
        return proto.HasDenotation ? type with { Denotation = proto.Denotation } : type;
    }

    public static Shape DecodeShape(TensorShapeProto proto) => new(proto.Dim.Select(d => new Dim(
        d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue : null,
        d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam ? d.DimParam : null,
        d.HasDenotation ? d.Denotation : null)));

    public static TypeProto Encode(IrType type)
    {
        var proto = new TypeProto();
        switch (type)
        {
            case TensorType t:
                proto.TensorType = new TypeProto.Types.Tensor { ElemType = (int)t.ElementType };
                if (t.Shape is not null) proto.TensorType.Shape = EncodeShape(t.Shape);
                break;
            case SparseTensorType t:
                proto.SparseTensorType = new TypeProto.Types.SparseTensor { ElemType = (int)t.ElementType };
                if (t.Shape is not null) proto.SparseTensorType.Shape = EncodeShape(t.Shape);
                break;
            case SequenceType s:
                proto.SequenceType = new TypeProto.Types.Sequence();
                if (s.ElementType is not null) proto.SequenceType.ElemType = Encode(s.ElementType);
                break;
            case MapType m:
                proto.MapType = new TypeProto.Types.Map { KeyType = (int)m.KeyType };
                if (m.ValueType is not null) proto.MapType.ValueType = Encode(m.ValueType);
                break;
            case OptionalType o:
                proto.OptionalType = new TypeProto.Types.Optional();
                if (o.ElementType is not null) proto.OptionalType.ElemType = Encode(o.ElementType);
                break;
            case OpaqueType o:
                proto.OpaqueType = new TypeProto.Types.Opaque();
                if (o.Domain is not null) proto.OpaqueType.Domain = o.Domain;
                if (o.Name is not null) proto.OpaqueType.Name = o.Name;
                break;
        }
        if (type.Denotation is not null) proto.Denotation = type.Denotation;
        return proto;
    }

    public static TensorShapeProto EncodeShape(Shape shape)
    {
        var proto = new TensorShapeProto();
        foreach (var d in shape.Dims)
        {
            var dim = new TensorShapeProto.Types.Dimension();
            if (d.Value is long v) dim.DimValue = v;
            else if (d.Param is not null) dim.DimParam = d.Param;
            if (d.Denotation is not null) dim.Denotation = d.Denotation;
            proto.Dim.Add(dim);
        }
        return proto;
    }
}
