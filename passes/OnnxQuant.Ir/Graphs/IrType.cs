namespace OnnxQuant.Ir;

/// <summary>
/// The type of a value: ONNX's <c>TypeProto</c> (tensor, sparse tensor, sequence, map, optional, opaque).
/// <see cref="Denotation"/> is carried through unchanged.
/// </summary>
public abstract record IrType
{
    public string? Denotation { get; init; }
}

/// <summary>A dense tensor; <see cref="Shape"/> is null when the rank is unknown.</summary>
public sealed record TensorType(DataType ElementType, Shape? Shape = null) : IrType
{
    public override string ToString() => ElementType.OnnxName() + (Shape?.ToString() ?? "[?]");
}

public sealed record SparseTensorType(DataType ElementType, Shape? Shape = null) : IrType
{
    public override string ToString() => "sparse " + ElementType.OnnxName() + (Shape?.ToString() ?? "[?]");
}

public sealed record SequenceType(IrType? ElementType) : IrType
{
    public override string ToString() => $"seq({ElementType})";
}

public sealed record MapType(DataType KeyType, IrType? ValueType) : IrType
{
    public override string ToString() => $"map({KeyType.OnnxName()},{ValueType})";
}

public sealed record OptionalType(IrType? ElementType) : IrType
{
    public override string ToString() => $"optional({ElementType})";
}

public sealed record OpaqueType(string? Domain, string? Name) : IrType
{
    public override string ToString() => $"opaque({Domain}.{Name})";
}

/// <summary>A TypeProto with none of its cases set (allowed by ONNX, e.g. in function value_info).</summary>
public sealed record UnspecifiedType : IrType
{
    public override string ToString() => "?";
}
