using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// Matrix products: MatMul (numpy semantics: 1-D operands get a dimension added then removed, batch dimensions
/// broadcast), Gemm (transA/transB), the integer and quantized forms, com.microsoft FusedMatMul and MatMulNBits
/// (B packed, N and K as attributes), Einsum, and Det.
/// </summary>
internal static class MatMulRules
{
    public static void Register(RuleRegistration add)
    {
        add("", MatMul, "MatMul");
        add("", c => Product(c, DataType.Int32), "MatMulInteger");
        add("", c => Product(c, c.ElementType(7)), "QLinearMatMul");
        add("", Gemm, "Gemm");
        add("", Einsum, "Einsum");
        add("", Det, "Det");
        add("com.microsoft", c => Product(c, c.ElementType(0), c.Int("transA", 0) != 0, c.Int("transB", 0) != 0,
            c.Int("transBatchA", 0) != 0 || c.Int("transBatchB", 0) != 0), "FusedMatMul");
        add("com.microsoft", c => Product(c, DataType.Float), "MatMulIntegerToFloat", "DynamicQuantizeMatMul");
        add("com.microsoft", c => Product(c, c.ElementType(7)), "QLinearMatMul");
        add("com.microsoft", MatMulNBits, "MatMulNBits");
    }

    private static void MatMul(NodeShapeContext c) => Product(c, c.ElementType(0) ?? c.ElementType(1));

    /// <summary>The output of a (batched) matrix product of inputs 0 and 1 (inputs 0 and 3 for QLinearMatMul).</summary>
    private static void Product(NodeShapeContext c, DataType? type, bool transA = false, bool transB = false, bool unsupported = false)
    {
        int bIndex = c.Node.OpType == "QLinearMatMul" ? 3 : 1;
        if (unsupported || c.ShapeOf(0) is not { Rank: > 0 } a || c.ShapeOf(bIndex) is not { Rank: > 0 } b)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        c.Set(0, type, MatMulShape(a, b, transA, transB));
    }

    public static Shape? MatMulShape(Shape a, Shape b, bool transA = false, bool transB = false)
    {
        var ad = a.Dims.ToList();
        var bd = b.Dims.ToList();
        bool aVector = ad.Count == 1, bVector = bd.Count == 1;
        if (aVector) ad.Insert(0, Dim.Known(1));
        if (bVector) bd.Add(Dim.Known(1));
        if (transA && !aVector) (ad[^1], ad[^2]) = (ad[^2], ad[^1]);
        if (transB && !bVector) (bd[^1], bd[^2]) = (bd[^2], bd[^1]);
        var batch = DimMath.Broadcast([new Shape(ad.Take(ad.Count - 2)), new Shape(bd.Take(bd.Count - 2))]);
        if (batch is null) return null;
        var dims = batch.Dims.ToList();
        if (!aVector) dims.Add(DimMath.Clean(ad[^2]));
        if (!bVector) dims.Add(DimMath.Clean(bd[^1]));
        return new Shape(dims);
    }

    private static void Gemm(NodeShapeContext c)
    {
        var type = c.ElementType(0) ?? c.ElementType(1);
        Dim m = Dim.Unknown, n = Dim.Unknown;
        if (c.ShapeOf(0) is { Rank: 2 } a) m = DimMath.Clean(c.Int("transA", 0) != 0 ? a[1] : a[0]);
        if (c.ShapeOf(1) is { Rank: 2 } b) n = DimMath.Clean(c.Int("transB", 0) != 0 ? b[0] : b[1]);
        c.Set(0, type, [m, n]);
    }

    /// <summary>Det of [..., M, M] is [...].</summary>
    private static void Det(NodeShapeContext c) =>
        c.Set(0, c.ElementType(0), c.ShapeOf(0) is { Rank: >= 2 } x ? new Shape(x.Dims.Take(x.Rank - 2).Select(DimMath.Clean)) : null);

    private static void MatMulNBits(NodeShapeContext c)
    {
        long n = c.Int("N", -1);
        if (c.ShapeOf(0) is not { Rank: > 0 } a || n < 0)
        {
            c.Set(0, c.ElementType(0), (Shape?)null);
            return;
        }
        c.Set(0, c.ElementType(0), a.Dims.Take(a.Rank - 1).Select(DimMath.Clean).Append(Dim.Known(n)));
    }

    /// <summary>Einsum: letters name dimensions; "..." stands for broadcast batch dimensions.</summary>
    private static void Einsum(NodeShapeContext c)
    {
        var type = c.ElementType(0);
        string equation = c.String("equation", "").Replace(" ", "", StringComparison.Ordinal);
        string[] sides = equation.Split("->");
        string[] terms = sides[0].Split(',');
        if (terms.Length != c.InputCount || sides.Length > 2)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        var letters = new Dictionary<char, Dim>();
        var counts = new Dictionary<char, int>();
        Shape? ellipsis = new Shape(Array.Empty<Dim>());
        bool ranksKnown = true;
        for (int i = 0; i < terms.Length; i++)
        {
            string term = terms[i];
            bool hasEllipsis = term.Contains("...", StringComparison.Ordinal);
            string named = term.Replace("...", "", StringComparison.Ordinal);
            foreach (char ch in named) counts[ch] = counts.GetValueOrDefault(ch) + 1;
            if (c.ShapeOf(i) is not { } s)
            {
                ranksKnown = false;
                continue;
            }
            int ellipsisRank = s.Rank - named.Length;
            if (ellipsisRank < 0 || (!hasEllipsis && ellipsisRank != 0))
            {
                c.Set(0, type, (Shape?)null);
                return;
            }
            int pos = 0;
            for (int k = 0; k < term.Length;)
            {
                if (term.AsSpan(k).StartsWith("..."))
                {
                    ellipsis = DimMath.Broadcast([ellipsis, new Shape(s.Dims.Skip(pos).Take(ellipsisRank))]);
                    pos += ellipsisRank;
                    k += 3;
                    continue;
                }
                char ch = term[k++];
                var d = s[pos++];
                letters[ch] = letters.TryGetValue(ch, out var seen) ? DimMath.Broadcast(seen, d) : DimMath.Clean(d);
            }
        }
        string output = sides.Length == 2
            ? sides[1]
            : (sides[0].Contains("...", StringComparison.Ordinal) ? "..." : "") +
              new string(counts.Where(kv => kv.Value == 1).Select(kv => kv.Key).Order().ToArray());
        if (!ranksKnown || ellipsis is null)
        {
            c.Set(0, type, (Shape?)null);
            return;
        }
        var dims = new List<Dim>();
        for (int k = 0; k < output.Length;)
        {
            if (output.AsSpan(k).StartsWith("..."))
            {
                dims.AddRange(ellipsis.Dims);
                k += 3;
                continue;
            }
            dims.Add(letters.GetValueOrDefault(output[k++], Dim.Unknown));
        }
        c.Set(0, type, dims);
    }
}
