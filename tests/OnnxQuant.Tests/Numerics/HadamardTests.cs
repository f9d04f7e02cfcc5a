using OnnxQuant.Passes.Numerics;

namespace OnnxQuant.Tests.Numerics;

public class HadamardTests
{
    public static TheoryData<int> BaseOrders => new(Hadamard.BaseOrders);

    public static TheoryData<int> BaseTimesPowersOfTwo =>
        new(Hadamard.BaseOrders.SelectMany(k => new[] { 2 * k, 4 * k, 8 * k }).Distinct());

    public static TheoryData<int> PowersOfTwo => new(Enumerable.Range(0, 14).Select(m => 1 << m));

    /// <summary>H·Hᵀ computed with plain integer sums, independent of <see cref="HadamardMatrix.IsHadamard"/>.</summary>
    private static void AssertGramIsExactlyNTimesIdentity(HadamardMatrix h)
    {
        int n = h.Order;
        var entries = h.Entries;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                long sum = 0;
                for (int k = 0; k < n; k++) sum += entries[i * n + k] * entries[j * n + k];
                Assert.True(sum == (i == j ? n : 0), $"order {n}: (H·Hᵀ)[{i},{j}] = {sum}");
            }
    }

    [Theory]
    [MemberData(nameof(BaseOrders))]
    public void EveryBaseOrder_SatisfiesHHtEqualsNIExactly(int k)
    {
        var h = Hadamard.ForOrder(k);
        Assert.Equal(k, h.Order);
        AssertGramIsExactlyNTimesIdentity(h);
        Assert.True(h.IsHadamard());
    }

    [Theory]
    [MemberData(nameof(BaseTimesPowersOfTwo))]
    public void BaseOrdersTimesPowersOfTwo_SatisfyHHtEqualsNIExactly(int n)
    {
        var h = Hadamard.ForOrder(n);
        Assert.Equal(n, h.Order);
        Assert.Equal(n, h.BaseOrder * h.PowerOfTwo);
        if (n <= 700) AssertGramIsExactlyNTimesIdentity(h);
        Assert.True(h.IsHadamard());
    }

    [Theory]
    [MemberData(nameof(PowersOfTwo))]
    public void PowersOfTwoUpTo8192_SatisfyHHtEqualsNIExactly(int n)
    {
        var h = Hadamard.ForOrder(n);
        Assert.Equal(1, h.BaseOrder);
        if (n <= 512) AssertGramIsExactlyNTimesIdentity(h);
        Assert.True(h.IsHadamard());
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(4096, 1, 4096)]
    [InlineData(768, 12, 64)]
    [InlineData(192, 12, 16)]
    [InlineData(1152, 36, 32)]
    [InlineData(40, 20, 2)]
    [InlineData(5120, 20, 256)]
    [InlineData(3584, 28, 128)]
    [InlineData(624, 156, 4)]
    [InlineData(172, 172, 1)]
    [InlineData(344, 172, 2)]
    [InlineData(5504, 172, 32)]
    public void Decompose_FindsTheBaseAndPowerOfTwo(int n, int k, int power)
    {
        Assert.Equal((k, power), Hadamard.Decompose(n));
        Assert.True(Hadamard.IsSupportedOrder(n));
    }

    [Theory]
    [InlineData(6)]    // 2·3: Hadamard orders above 2 are multiples of 4
    [InlineData(44)]   // 4·11: no base of order 44 is built
    [InlineData(100)]  // 4·25
    [InlineData(86)]   // 2·43: not a multiple of 4
    [InlineData(76)]   // 4·19: no base of order 76 is built
    [InlineData(0)]
    [InlineData(-8)]
    public void UnsupportedOrders_AreRefusedNamingTheOrderAndTheSupportedForms(int n)
    {
        Assert.False(Hadamard.IsSupportedOrder(n));
        var e = Assert.Throws<ArgumentException>(() => Hadamard.ForOrder(n));
        Assert.Contains($"order {n}", e.Message);
        Assert.Contains("powers of two", e.Message);
        Assert.Contains("K·2^m", e.Message);
    }

    [Fact]
    public void IsHadamard_DetectsASingleFlippedEntry()
    {
        var h = Hadamard.ForOrder(96);
        var entries = h.Entries.ToArray();
        entries[5 * 96 + 17] = (sbyte)-entries[5 * 96 + 17];
        Assert.False(new HadamardMatrix(96, 12, entries).IsHadamard());
    }

    [Fact]
    public void KroneckerLayout_IsBaseEntryTimesSylvesterEntry()
    {
        var h = Hadamard.ForOrder(48);
        var baseMatrix = Hadamard.ForOrder(12);
        var sylvester = Hadamard.ForOrder(4);
        for (int i = 0; i < 48; i++)
            for (int j = 0; j < 48; j++)
                Assert.Equal(baseMatrix[i / 4, j / 4] * sylvester[i % 4, j % 4], h[i, j]);
    }

    [Fact]
    public void NormalizedMatrix_IsOrthogonal()
    {
        var q = Hadamard.ForOrder(60).ToMatrix(normalized: true);
        Assert.True(q.TransposeThenMultiply(q).MaxAbsDifference(DoubleMatrix.Identity(60)) <= 1e-14);
    }

    [Theory]
    [InlineData(9, 3, 2)]   // GF(9) = GF(3)[x]/(irreducible quadratic)
    [InlineData(25, 5, 2)]
    [InlineData(27, 3, 3)]
    [InlineData(13, 13, 1)]
    public void FiniteField_QuadraticCharacterHasHalfSquares(int q, int p, int degree)
    {
        var field = FiniteField.TryCreate(q)!;
        Assert.Equal(p, field.Characteristic);
        Assert.Equal(degree, field.Degree);
        Assert.Equal(0, field.QuadraticCharacter(0));
        Assert.Equal((q - 1) / 2, Enumerable.Range(1, q - 1).Count(a => field.QuadraticCharacter(a) == 1));
        for (int a = 0; a < q; a++)
        {
            Assert.Equal(0, field.Subtract(a, a));
            Assert.Equal(a, field.Add(field.Subtract(a, 7 % q), 7 % q));
        }
        Assert.Null(FiniteField.TryCreate(12));
    }

    [Fact]
    public void WilliamsonSearch_DerivesOrder13_AndWilliamsonsArrayMakesAHadamardMatrixOf52()
    {
        // 52 = 5² + 5² + 1² + 1²: row sums of symmetric ±1 circulants of order 13 with first entry +1 are ≡ 1 (mod 4).
        var found = WilliamsonSearch.Find(13, 5, 5, 1, 1);
        Assert.NotNull(found);
        var (a, b, c, d) = found.Value;
        var h = new WilliamsonSequences(a, b, c, d).Build();
        Assert.Equal(52, h.Order);
        AssertGramIsExactlyNTimesIdentity(h);
        // Changing one symmetric pair of entries breaks it: the check is not vacuous.
        var broken = a[..1] + (a[1] == '+' ? '-' : '+') + a[2..12] + (a[12] == '+' ? '-' : '+');
        Assert.False(new WilliamsonSequences(broken, b, c, d).Build().IsHadamard());
    }

    /// <summary>
    /// Non-symmetric complementary sequences (n = 13 with row sums 5, 5, 1, 1 and n = 23 with 7, 5, 3, 3; found by a
    /// throwaway local search during development): unlike the symmetric order-43 table, they make the array's sign
    /// pattern and its R / transpose placement matter, and H·Hᵀ = 4m·I is checked exactly.
    /// </summary>
    [Theory]
    [InlineData("+-+--+-++++++", "++--+++++++--", "++---+++-+--+", "+-+-++-++--+-")]
    [InlineData("+++-++-+-++++++-++---+-", "++++-+++---+-++-+-++--+", "++++--+---+---+++++++--", "++-+-+++---+-+++--+-++-")]
    public void GoethalsSeidelArray_OfComplementaryCirculants_SatisfiesHHtEqualsNIExactly(string a, string b, string c, string d)
    {
        var h = new GoethalsSeidelSequences(a, b, c, d).Build();
        Assert.Equal(4 * a.Length, h.Order);
        AssertGramIsExactlyNTimesIdentity(h);
        // One changed entry breaks the autocorrelation balance: the check is not vacuous.
        var broken = (d[0] == '+' ? "-" : "+") + d[1..];
        Assert.False(new GoethalsSeidelSequences(a, b, c, broken).Build().IsHadamard());
    }

    [Fact]
    public void CyclotomicSearch_RederivesTheCommittedOrder43Table_WhoseArrayIsAHadamardMatrixOf172()
    {
        // 172 = 7² + 7² + 7² + 5²; unions of the order-7 cyclotomic classes of GF(43), with or without 0.
        var found = CyclotomicSearch.Find(43, 7, 7, 7, 7, 5);
        Assert.NotNull(found);
        var table = GoethalsSeidelSequences.Order43;
        Assert.Equal((table.A, table.B, table.C, table.D), found.Value);
        var h = table.Build();
        Assert.Equal(172, h.Order);
        AssertGramIsExactlyNTimesIdentity(h);
        // Only the autocorrelations matter: a cyclic shift of D keeps them (still Hadamard), one flipped entry does not.
        var shifted = table.D[1..] + table.D[0];
        Assert.True(new GoethalsSeidelSequences(table.A, table.B, table.C, shifted).Build().IsHadamard());
        var flipped = (table.D[0] == '+' ? "-" : "+") + table.D[1..];
        Assert.False(new GoethalsSeidelSequences(table.A, table.B, table.C, flipped).Build().IsHadamard());
    }

    [Fact]
    public void GoethalsSeidelArray_RefusesRowsOfDifferentLengths()
    {
        var e = Assert.Throws<ArgumentException>(() => new GoethalsSeidelSequences("+++", "+-+", "++-", "+-").Build());
        Assert.Contains("one length", e.Message);
    }
}
