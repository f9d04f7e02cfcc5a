using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// Sequence ops: the sequence's element type is the tensor type all its elements share (sizes they disagree on are
/// unknown); SequenceAt gives that type back, SequenceLength an int64 scalar.
/// </summary>
internal static class SequenceRules
{
    public static void Register(RuleRegistration add)
    {
        add("", SequenceEmpty, "SequenceEmpty");
        add("", SequenceConstruct, "SequenceConstruct");
        add("", SequenceInsert, "SequenceInsert");
        add("", c => c.Set(0, c.TypeOf(0)), "SequenceErase");
        add("", c => c.Set(0, Element(c.TypeOf(0))), "SequenceAt");
        add("", c => c.Set(0, DataType.Int64, new Shape(Array.Empty<Dim>())), "SequenceLength");
        add("", SplitToSequence, "SplitToSequence");
        add("", ConcatFromSequence, "ConcatFromSequence");
    }

    private static IrType? Element(IrType? sequence) => (sequence as SequenceType)?.ElementType;

    private static TensorType? Join(TensorType? a, TensorType? b) =>
        a is null ? b : b is null ? a : a.ElementType == b.ElementType ? new TensorType(a.ElementType, DimMath.Join(a.Shape, b.Shape)) : null;

    private static TensorType? InputTensor(NodeShapeContext c, int i) =>
        c.ElementType(i) is { } t ? new TensorType(t, c.ShapeOf(i)) : null;

    private static void SequenceEmpty(NodeShapeContext c) =>
        c.Set(0, new SequenceType(new TensorType((DataType)c.Int("dtype", (long)DataType.Float))));

    private static void SequenceConstruct(NodeShapeContext c)
    {
        TensorType? element = null;
        for (int i = 0; i < c.InputCount; i++)
        {
            if (InputTensor(c, i) is not { } t) return;
            element = i == 0 ? t : Join(element, t);
            if (element is null) return;
        }
        if (element is not null) c.Set(0, new SequenceType(element));
    }

    private static void SequenceInsert(NodeShapeContext c)
    {
        var inserted = InputTensor(c, 1);
        var existing = Element(c.TypeOf(0)) as TensorType;
        // An empty sequence's elements have no shape yet: the inserted tensor's type is the element type.
        var element = existing is { Shape: null } && inserted is not null && existing.ElementType == inserted.ElementType
            ? inserted : Join(existing, inserted);
        if (element is not null) c.Set(0, new SequenceType(element));
    }

    private static void SplitToSequence(NodeShapeContext c)
    {
        if (c.ElementType(0) is not { } type) return;
        var x = c.ShapeOf(0);
        if (x is null || NodeShapeContext.Axis(c.Int("axis", 0), x.Rank) is not int axis)
        {
            c.Set(0, new SequenceType(new TensorType(type)));
            return;
        }
        Shape shape;
        if (!c.Has(1))
        {
            bool keep = c.Int("keepdims", 1) != 0;
            shape = new Shape(x.Dims.Select((d, k) => (d, k)).Where(p => keep || p.k != axis)
                .Select(p => p.k == axis ? Dim.Known(1) : DimMath.Clean(p.d)));
        }
        else
        {
            // Pieces of a scalar split all have that size except perhaps the last; a list may differ piece by piece.
            var split = c.Longs(1);
            Dim size = Dim.Unknown;
            if (split is [long piece] && c.RankOf(1) == 0)
                size = x[axis].Value is long whole && piece > 0 && whole % piece == 0 ? Dim.Known(piece) : Dim.Unknown;
            else if (split is { Length: > 0 } s && s.All(v => v == s[0]))
                size = Dim.Known(s[0]);
            shape = new Shape(x.Dims.Select((d, k) => k == axis ? size : DimMath.Clean(d)));
        }
        c.Set(0, new SequenceType(new TensorType(type, shape)));
    }

    private static void ConcatFromSequence(NodeShapeContext c)
    {
        if (Element(c.TypeOf(0)) is not TensorType element) return;
        bool newAxis = c.Int("new_axis", 0) != 0;
        if (element.Shape is not { } s)
        {
            c.Set(0, element.ElementType, (Shape?)null);
            return;
        }
        int rank = s.Rank + (newAxis ? 1 : 0);
        if (NodeShapeContext.Axis(c.Int("axis", 0), rank) is not int axis) return;
        var dims = s.Dims.Select(DimMath.Clean).ToList();
        if (newAxis) dims.Insert(axis, Dim.Unknown);
        else dims[axis] = Dim.Unknown;
        c.Set(0, element.ElementType, dims);
    }
}
