namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// The classical constructions of Hadamard matrices that <see cref="Hadamard.ForOrder"/> draws its base orders
/// from, each computed (never read from a table): Sylvester's doubling, Paley's two constructions over GF(q)
/// (Paley, "On orthogonal matrices", 1933), Williamson's array of four symmetric circulants (Williamson, 1944) and
/// the Goethals–Seidel array of four arbitrary circulants (Goethals and Seidel, "A skew Hadamard matrix of order 36",
/// 1970).
/// </summary>
internal static class HadamardConstructions
{
    /// <summary>Sylvester: H_1 = [1], H_2n = [[H, H], [H, −H]]; entry (i, j) = (−1)^popcount(i AND j).</summary>
    public static HadamardMatrix Sylvester(int order)
    {
        var entries = new sbyte[order * order];
        for (int i = 0; i < order; i++)
            for (int j = 0; j < order; j++)
                entries[i * order + j] = System.Numerics.BitOperations.PopCount((uint)(i & j)) % 2 == 0 ? (sbyte)1 : (sbyte)-1;
        return new HadamardMatrix(order, 1, entries);
    }

    /// <summary>
    /// Paley I, order q + 1 for a prime power q ≡ 3 (mod 4): with the Jacobsthal matrix Q[a, b] = χ(a − b), which is
    /// skew, Q·Qᵀ = q·I − J and Q·1 = 0, H = I + [[0, 1ᵀ], [−1, Q]] has H·Hᵀ = (q + 1)·I.
    /// </summary>
    public static HadamardMatrix PaleyI(int q)
    {
        var field = RequireField(q, 3);
        int n = q + 1;
        var entries = new sbyte[n * n];
        for (int j = 1; j < n; j++)
        {
            entries[j] = 1;
            entries[j * n] = -1;
        }
        for (int a = 0; a < q; a++)
            for (int b = 0; b < q; b++)
                entries[(a + 1) * n + b + 1] = (sbyte)field.QuadraticCharacter(field.Subtract(a, b));
        for (int i = 0; i < n; i++) entries[i * n + i] += 1;
        return new HadamardMatrix(n, n, entries);
    }

    /// <summary>
    /// Paley II, order 2(q + 1) for a prime power q ≡ 1 (mod 4): the symmetric conference matrix
    /// C = [[0, 1ᵀ], [1, Q]] (C·Cᵀ = q·I) with each 0 replaced by [[1, −1], [−1, −1]] and each ±1 by ±[[1, 1], [1, −1]].
    /// </summary>
    public static HadamardMatrix PaleyII(int q)
    {
        var field = RequireField(q, 1);
        int c = q + 1, n = 2 * c;
        var entries = new sbyte[n * n];
        for (int i = 0; i < c; i++)
            for (int j = 0; j < c; j++)
            {
                int conference = i == 0 && j == 0 ? 0
                    : i == 0 || j == 0 ? 1
                    : field.QuadraticCharacter(field.Subtract(i - 1, j - 1));
                ReadOnlySpan<int> block = conference == 0 ? [1, -1, -1, -1] : [conference, conference, conference, -conference];
                entries[2 * i * n + 2 * j] = (sbyte)block[0];
                entries[2 * i * n + 2 * j + 1] = (sbyte)block[1];
                entries[(2 * i + 1) * n + 2 * j] = (sbyte)block[2];
                entries[(2 * i + 1) * n + 2 * j + 1] = (sbyte)block[3];
            }
        return new HadamardMatrix(n, n, entries);
    }

    /// <summary>
    /// Williamson, order 4m from symmetric circulants A, B, C, D of odd order m with A² + B² + C² + D² = 4m·I:
    /// H = [[A, B, C, D], [−B, A, −D, C], [−C, D, A, −B], [−D, −C, B, A]]. Each argument is a circulant's first row.
    /// </summary>
    public static HadamardMatrix Williamson(sbyte[] a, sbyte[] b, sbyte[] c, sbyte[] d)
    {
        int m = a.Length, n = 4 * m;
        var rows = new[] { a, b, c, d };
        // Block (r, s) of the array is sign·circulant(rows[which]).
        int[,] which = { { 0, 1, 2, 3 }, { 1, 0, 3, 2 }, { 2, 3, 0, 1 }, { 3, 2, 1, 0 } };
        int[,] sign = { { 1, 1, 1, 1 }, { -1, 1, -1, 1 }, { -1, 1, 1, -1 }, { -1, -1, 1, 1 } };
        var entries = new sbyte[n * n];
        for (int r = 0; r < 4; r++)
            for (int s = 0; s < 4; s++)
            {
                var first = rows[which[r, s]];
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < m; j++)
                        entries[(r * m + i) * n + s * m + j] = (sbyte)(sign[r, s] * first[((j - i) % m + m) % m]);
            }
        return new HadamardMatrix(n, n, entries);
    }

    /// <summary>
    /// Goethals–Seidel, order 4m from ±1 circulants A, B, C, D of order m (not necessarily symmetric) with
    /// A·Aᵀ + B·Bᵀ + C·Cᵀ + D·Dᵀ = 4m·I, i.e. first rows whose periodic autocorrelations sum to zero at every nonzero
    /// shift. With R the back-diagonal identity (X·R·Yᵀ = Y·R·Xᵀ for circulants X, Y):
    /// H = [[A, B·R, C·R, D·R], [−B·R, A, Dᵀ·R, −Cᵀ·R], [−C·R, −Dᵀ·R, A, Bᵀ·R], [−D·R, Cᵀ·R, −Bᵀ·R, A]].
    /// Each argument is a circulant's first row (X[i, j] = x[(j − i) mod m]).
    /// </summary>
    public static HadamardMatrix GoethalsSeidel(sbyte[] a, sbyte[] b, sbyte[] c, sbyte[] d)
    {
        int m = a.Length, n = 4 * m;
        if (b.Length != m || c.Length != m || d.Length != m)
            throw new ArgumentException($"the Goethals–Seidel array needs four rows of one length, got {m}, {b.Length}, {c.Length}, {d.Length}");
        var rows = new[] { a, b, c, d };
        // Block (r, s) is sign·X for X = rows[which] as the circulant itself, X·R or Xᵀ·R.
        const int Plain = 0, TimesR = 1, TransposeTimesR = 2;
        (int Which, int Form, int Sign)[,] blocks =
        {
            { (0, Plain, 1), (1, TimesR, 1), (2, TimesR, 1), (3, TimesR, 1) },
            { (1, TimesR, -1), (0, Plain, 1), (3, TransposeTimesR, 1), (2, TransposeTimesR, -1) },
            { (2, TimesR, -1), (3, TransposeTimesR, -1), (0, Plain, 1), (1, TransposeTimesR, 1) },
            { (3, TimesR, -1), (2, TransposeTimesR, 1), (1, TransposeTimesR, -1), (0, Plain, 1) },
        };
        var entries = new sbyte[n * n];
        for (int r = 0; r < 4; r++)
            for (int s = 0; s < 4; s++)
            {
                var (which, form, sign) = blocks[r, s];
                var first = rows[which];
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < m; j++)
                    {
                        // X[i, j] = x[j − i]; (X·R)[i, j] = X[i, m−1−j] = x[m−1−j−i]; (Xᵀ·R)[i, j] = X[m−1−j, i] = x[i+j+1−m].
                        int index = form == Plain ? j - i : form == TimesR ? m - 1 - j - i : i + j + 1 - m;
                        entries[(r * m + i) * n + s * m + j] = (sbyte)(sign * first[((index % m) + m) % m]);
                    }
            }
        return new HadamardMatrix(n, n, entries);
    }

    private static FiniteField RequireField(int q, int residueModFour)
    {
        var field = FiniteField.TryCreate(q)
            ?? throw new ArgumentException($"Paley's construction needs a prime power, got {q}");
        if (q % 4 != residueModFour)
            throw new ArgumentException($"this Paley construction needs q ≡ {residueModFour} (mod 4), got {q}");
        return field;
    }
}
