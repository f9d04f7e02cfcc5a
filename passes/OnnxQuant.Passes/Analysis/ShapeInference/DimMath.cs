using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// Arithmetic on dimensions that may be symbolic. A symbolic dimension may be a product written as
/// <c>[coefficient*]sym1*sym2…</c> (symbols sorted): products and exact quotients of such monomials stay symbolic,
/// so <c>Reshape(x[batch,seq,64], [-1,64])</c> gives <c>[batch*seq,64]</c>. Sums of different symbols are unknown.
/// Two unknown dimensions are never equal; two symbols are equal when their names are.
/// </summary>
internal static class DimMath
{
    public static Dim Clean(Dim d) => d.Denotation is null ? d : new Dim(d.Value, d.Param);

    /// <summary>True when both dimensions are provably the same size.</summary>
    public static bool Same(Dim a, Dim b) =>
        a.IsKnown ? b.IsKnown && a.Value == b.Value : a.Param is not null && a.Param == b.Param;

    public static bool IsOne(Dim d) => d.Value == 1;

    /// <summary>
    /// Numpy broadcasting of one dimension: 1 yields to the other; a known size other than 1 wins (the other must
    /// equal it or be 1); equal symbols stay; anything else is unknown.
    /// </summary>
    public static Dim Broadcast(Dim a, Dim b)
    {
        if (IsOne(a)) return Clean(b);
        if (IsOne(b)) return Clean(a);
        if (a.IsKnown) return Clean(a);
        if (b.IsKnown) return Clean(b);
        return Same(a, b) ? Clean(a) : Dim.Unknown;
    }

    /// <summary>Broadcasts shapes right-aligned; null when any rank is unknown.</summary>
    public static Shape? Broadcast(IEnumerable<Shape?> shapes)
    {
        List<Dim>? result = null;
        foreach (var s in shapes)
        {
            if (s is null) return null;
            if (result is null) { result = s.Dims.Select(Clean).ToList(); continue; }
            int rank = Math.Max(result.Count, s.Rank);
            var merged = new Dim[rank];
            for (int i = 0; i < rank; i++)
            {
                int ia = i - (rank - result.Count), ib = i - (rank - s.Rank);
                merged[i] = ia < 0 ? Clean(s[ib]) : ib < 0 ? result[ia] : Broadcast(result[ia], s[ib]);
            }
            result = merged.ToList();
        }
        return result is null ? null : new Shape(result);
    }

    /// <summary>The dimension both branches agree on (If outputs, loop-carried values), else unknown.</summary>
    public static Dim Join(Dim a, Dim b) => Same(a, b) ? Clean(a) : Dim.Unknown;

    public static Shape? Join(Shape? a, Shape? b) =>
        a is null || b is null || a.Rank != b.Rank ? null : new Shape(a.Dims.Zip(b.Dims, Join));

    /// <summary>Two known dims, or the other when one is known to be the "fill-in" value: keeps whatever is sure.</summary>
    public static Dim Unify(Dim a, Dim b) => a.IsKnown ? Clean(a) : b.IsKnown ? Clean(b) : a.Param is not null ? Clean(a) : Clean(b);

    public static Dim Add(Dim a, Dim b)
    {
        if (a.IsKnown && b.IsKnown) return Dim.Known(a.Value!.Value + b.Value!.Value);
        if (a.Value == 0) return Clean(b);
        if (b.Value == 0) return Clean(a);
        return Dim.Unknown;
    }

    public static Dim Sub(Dim a, Dim b)
    {
        if (a.IsKnown && b.IsKnown) return Dim.Known(a.Value!.Value - b.Value!.Value);
        if (b.Value == 0) return Clean(a);
        if (Same(a, b)) return Dim.Known(0);
        return Dim.Unknown;
    }

    public static Dim Mul(Dim a, Dim b)
    {
        if (a.Value == 0 || b.Value == 0) return Dim.Known(0);
        if (a.IsKnown && b.IsKnown) return Dim.Known(a.Value!.Value * b.Value!.Value);
        if (IsOne(a)) return Clean(b);
        if (IsOne(b)) return Clean(a);
        if (Monomial.Parse(a) is not { } ma || Monomial.Parse(b) is not { } mb) return Dim.Unknown;
        return ma.Times(mb).ToDim();
    }

    public static Dim Product(IEnumerable<Dim> dims) => dims.Aggregate(Dim.Known(1), Mul);

    /// <summary>a / b when the division is exact (also for symbols: <c>batch*seq / seq</c>), else unknown.</summary>
    public static Dim DivExact(Dim a, Dim b)
    {
        if (b.Value is 0) return Dim.Unknown;
        if (IsOne(b)) return Clean(a);
        if (Same(a, b)) return Dim.Known(1);
        if (a.IsKnown && b.IsKnown) return a.Value!.Value % b.Value!.Value == 0 ? Dim.Known(a.Value.Value / b.Value.Value) : Dim.Unknown;
        if (Monomial.Parse(a) is not { } ma || Monomial.Parse(b) is not { } mb) return Dim.Unknown;
        return ma.DividedBy(mb)?.ToDim() ?? Dim.Unknown;
    }

    /// <summary>Integer division truncating toward zero, as ONNX Div on integers (exact symbolic quotients kept).</summary>
    public static Dim DivTrunc(Dim a, Dim b)
    {
        if (a.IsKnown && b.IsKnown) return b.Value == 0 ? Dim.Unknown : Dim.Known(a.Value!.Value / b.Value!.Value);
        return DivExact(a, b);
    }

    public static Dim CeilDiv(Dim a, long b)
    {
        if (a.IsKnown) return Dim.Known(FloorDiv(a.Value!.Value + b - 1, b));
        return b == 1 ? Clean(a) : Dim.Unknown;
    }

    public static long FloorDiv(long a, long b)
    {
        long q = a / b;
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
    }

    public static long CeilDiv(long a, long b) => -FloorDiv(-a, b);

    /// <summary>A product of symbols with an integer coefficient, as written in a symbolic dimension's name.</summary>
    private readonly record struct Monomial(long Coefficient, string[] Symbols)
    {
        public static Monomial? Parse(Dim d)
        {
            if (d.IsKnown) return new Monomial(d.Value!.Value, []);
            if (d.Param is null) return null;
            long coefficient = 1;
            var symbols = new List<string>();
            foreach (string part in d.Param.Split('*'))
            {
                string p = part.Trim();
                if (p.Length == 0) return null;
                if (long.TryParse(p, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long c))
                    coefficient *= c;
                else symbols.Add(p);
            }
            symbols.Sort(StringComparer.Ordinal);
            return new Monomial(coefficient, symbols.ToArray());
        }

        public Monomial Times(Monomial other) =>
            new(Coefficient * other.Coefficient, Symbols.Concat(other.Symbols).Order(StringComparer.Ordinal).ToArray());

        public Monomial? DividedBy(Monomial other)
        {
            if (other.Coefficient == 0 || Coefficient % other.Coefficient != 0) return null;
            var rest = Symbols.ToList();
            foreach (string s in other.Symbols)
                if (!rest.Remove(s)) return null;
            return new Monomial(Coefficient / other.Coefficient, rest.ToArray());
        }

        public Dim ToDim()
        {
            if (Symbols.Length == 0 || Coefficient == 0) return Dim.Known(Coefficient);
            string product = string.Join("*", Symbols);
            return Dim.Symbolic(Coefficient == 1 ? product : Coefficient.ToString(System.Globalization.CultureInfo.InvariantCulture) + "*" + product);
        }
    }
}
