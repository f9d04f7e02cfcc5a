using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// Combines the type a model declares for a value with the one inference found, never contradicting a known
/// declaration: a declared element type or known size is kept (a different inferred one is a conflict), a declared
/// symbol yields to an inferred known size, and what the model leaves unknown is filled in.
/// </summary>
internal static class TypeMerge
{
    public static IrType Merge(IrType? declared, IrType inferred, out bool conflict)
    {
        conflict = false;
        if (declared is null or UnspecifiedType) return inferred;
        if (declared is not TensorType d || inferred is not TensorType i)
        {
            conflict = declared.GetType() != inferred.GetType() || (declared is TensorType != inferred is TensorType);
            return declared;
        }
        var element = d.ElementType;
        if (element == DataType.Undefined) element = i.ElementType;
        else if (i.ElementType != element) conflict = true;
        return new TensorType(element, MergeShapes(d.Shape, i.Shape, ref conflict)) { Denotation = d.Denotation };
    }

    private static Shape? MergeShapes(Shape? declared, Shape? inferred, ref bool conflict)
    {
        if (declared is null) return inferred;
        if (inferred is null) return declared;
        if (declared.Rank != inferred.Rank)
        {
            conflict = true;
            return declared;
        }
        var dims = new Dim[declared.Rank];
        for (int k = 0; k < dims.Length; k++)
        {
            Dim dd = declared[k], id = inferred[k];
            if (dd.IsKnown)
            {
                if (id.IsKnown && id.Value != dd.Value) conflict = true;
                dims[k] = dd;
            }
            else if (id.IsKnown || dd.Param is null) dims[k] = id with { Denotation = dd.Denotation };
            else dims[k] = dd;
        }
        return new Shape(dims);
    }
}
