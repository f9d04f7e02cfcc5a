using System.Runtime.CompilerServices;
using Google.Protobuf;
using OnnxQuant.Onnx.Proto;

namespace OnnxQuant.Ir.Serialization;

/// <summary>
/// Carries protobuf fields our schema does not define (from a newer ONNX, or a tool's private extension) from a parsed
/// message to the IR object read from it, and back onto the message written for that object, so that a read/write
/// through the IR loses nothing a newer reader would need. Covers the messages the IR rebuilds field by field
/// (model, graph, node, attribute, tensor, value info); the messages carried as protobuf objects (training info,
/// device configurations, annotations) keep theirs by themselves.
/// </summary>
/// <remarks>
/// Google.Protobuf keeps unknown fields in each generated class's private <c>_unknownFields</c> and offers no public
/// getter. <see cref="UnsafeAccessorAttribute"/> reads that field directly (no reflection, no per-call cost beyond a
/// field load), and it is null for the usual message without unknown fields, so the common case allocates nothing.
/// If a Google.Protobuf release renames the field, the accessors throw <see cref="MissingFieldException"/> and the
/// unknown-field tests fail.
/// </remarks>
internal static class UnknownFields
{
    public static byte[]? Of(ModelProto message) => ToBytes(Field(message));
    public static byte[]? Of(GraphProto message) => ToBytes(Field(message));
    public static byte[]? Of(NodeProto message) => ToBytes(Field(message));
    public static byte[]? Of(AttributeProto message) => ToBytes(Field(message));
    public static byte[]? Of(TensorProto message) => ToBytes(Field(message));
    public static byte[]? Of(ValueInfoProto message) => ToBytes(Field(message));

    /// <summary>Adds <paramref name="bytes"/> (as returned by <c>Of</c>) to <paramref name="message"/>'s unknown fields.</summary>
    /// <remarks>
    /// Call after the known fields are set. The bytes hold only fields the schema does not know, so merging them
    /// cannot overwrite a known field; the serializer writes unknown fields after the known ones, in their original
    /// order, so a read/write gives the original bytes back.
    /// </remarks>
    public static void Attach(IMessage message, byte[]? bytes)
    {
        if (bytes is { Length: > 0 }) message.MergeFrom(bytes);
    }

    private static byte[]? ToBytes(UnknownFieldSet? set)
    {
        if (set is null) return null;
        var bytes = new byte[set.CalculateSize()];
        var output = new CodedOutputStream(bytes);
        set.WriteTo(output);
        output.CheckNoSpaceLeft();
        return bytes.Length == 0 ? null : bytes;
    }

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_unknownFields")]
    private static extern ref UnknownFieldSet? Field(ModelProto message);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_unknownFields")]
    private static extern ref UnknownFieldSet? Field(GraphProto message);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_unknownFields")]
    private static extern ref UnknownFieldSet? Field(NodeProto message);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_unknownFields")]
    private static extern ref UnknownFieldSet? Field(AttributeProto message);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_unknownFields")]
    private static extern ref UnknownFieldSet? Field(TensorProto message);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_unknownFields")]
    private static extern ref UnknownFieldSet? Field(ValueInfoProto message);
}
