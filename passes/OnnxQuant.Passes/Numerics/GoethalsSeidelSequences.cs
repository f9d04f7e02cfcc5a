namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// First rows of four ±1 circulant matrices A, B, C, D of odd order m (not necessarily symmetric) with
/// A·Aᵀ + B·Bᵀ + C·Cᵀ + D·Dᵀ = 4m·I — four sequences whose periodic autocorrelations sum to zero at every nonzero
/// shift — for the Goethals–Seidel array (<see cref="HadamardConstructions.GoethalsSeidel"/>). Williamson circulants of
/// order 43 were out of reach of our Williamson search, so order 43 comes from our own search over sequences whose −1
/// positions are unions of cyclotomic classes of GF(43) (tests/OnnxQuant.Tests/Numerics/CyclotomicSearch.cs, order-7
/// classes of the primitive root 3; deterministic, no seed). The tests re-run that search, compare it with this table
/// and prove H·Hᵀ = 4m·I exactly. Written as '+'/'-' strings of the first rows.
/// </summary>
internal sealed record GoethalsSeidelSequences(string A, string B, string C, string D)
{
    /// <summary>
    /// Order 43 (H of order 172); row sums 7, 7, 7, 5. The rows happen to be symmetric: order-7 classes are closed
    /// under negation because −1 = 3²¹ is a 7th power.
    /// </summary>
    public static GoethalsSeidelSequences Order43 { get; } = new(
        "+-+++----+-++-++--++++++++--++-++-+----+++-",
        "++++-++++---+++---+--++--+---+++---++++-+++",
        "+-+-++--+-+-++++++-+----+-++++++-+-+--++-+-",
        "-++---++-++++-+-++--+--+--++-+-++++-++---++");

    public HadamardMatrix Build() =>
        HadamardConstructions.GoethalsSeidel(Parse(A), Parse(B), Parse(C), Parse(D));

    private static sbyte[] Parse(string row) => row.Select(c => c == '+' ? (sbyte)1 : (sbyte)-1).ToArray();
}
