namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// First rows of four symmetric circulant ±1 matrices A, B, C, D of odd order m with A² + B² + C² + D² = 4m·I, for
/// Williamson's array (<see cref="HadamardConstructions.Williamson"/>). No algebraic family reaches the orders kept
/// here, so they were derived by our own meet-in-the-middle search (tests/OnnxQuant.Tests/Numerics/WilliamsonSearch.cs:
/// the periodic spectra |F_A(k)|² + |F_B(k)|² of pairs matched against 4m − |F_C(k)|² − |F_D(k)|², with Williamson's
/// condition aᵢbᵢcᵢdᵢ = −1 for i ≥ 1 as part of the key); the tests prove H·Hᵀ = 4m·I exactly for each.
/// Written as '+'/'-' strings of the full first row (symmetric: entry j equals entry m − j).
/// </summary>
internal sealed record WilliamsonSequences(string A, string B, string C, string D)
{
    /// <summary>Order 39 (H of order 156); row sums −9, −5, −5, −5.</summary>
    public static WilliamsonSequences Order39 { get; } = new(
        "+---+---+-++-++----++----++-++-+---+---",
        "++--+++-+--++-+----------+-++--+-+++--+",
        "+-++------++--+-+-++++-+-+--++------++-",
        "+---+--++++----+-+-++-+-+----++++--+---");

    public HadamardMatrix Build() => HadamardConstructions.Williamson(Parse(A), Parse(B), Parse(C), Parse(D));

    private static sbyte[] Parse(string row) => row.Select(c => c == '+' ? (sbyte)1 : (sbyte)-1).ToArray();
}
