using System.Collections.Concurrent;

namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// Hadamard matrices of the orders rotation passes need (ALGORITHMS.md §3.3; QuaRot): powers of two (Sylvester) and
/// H_K ⊗ H_{2^m} for the base orders in <see cref="BaseOrders"/>, so that hidden sizes such as 768 = 12·64,
/// 1152 = 36·32 or 5120 = 20·256 can be rotated. Every base matrix is built by a classical construction
/// (<see cref="HadamardConstructions"/>): Paley I for 12, 20, 60, 108, 140; Paley II for 28, 36, 52; Williamson's
/// array for 156 (circulants from our own search, <see cref="WilliamsonSequences"/>); the Goethals–Seidel array for
/// 172 (circulants of order 43 from our own cyclotomic search, <see cref="GoethalsSeidelSequences"/>). 40 is 20·2, so
/// 40·2^m is built as H_20 ⊗ H_{2^(m+1)}. Other orders are refused.
/// </summary>
public static class Hadamard
{
    /// <summary>The non-power-of-two factors K supported in n = K·2^m.</summary>
    public static IReadOnlyList<int> BaseOrders { get; } = [12, 20, 28, 36, 40, 52, 60, 108, 140, 156, 172];

    private static readonly ConcurrentDictionary<int, HadamardMatrix> BaseCache = new();

    /// <summary>Describes the accepted orders, for error messages of passes that refuse a dimension.</summary>
    public static string SupportedOrdersText =>
        $"supported orders are powers of two and K·2^m with K in {{{string.Join(", ", BaseOrders)}}} (e.g. 768 = 12·64)";

    /// <summary>The unnormalized ±1 Hadamard matrix of order <paramref name="order"/>.</summary>
    public static HadamardMatrix ForOrder(int order)
    {
        var (baseOrder, powerOfTwo) = Decompose(order);
        var sylvester = HadamardConstructions.Sylvester(powerOfTwo);
        return baseOrder == 1 ? sylvester : BaseMatrix(baseOrder).Kronecker(sylvester, baseOrder);
    }

    public static bool IsSupportedOrder(int order) => TryDecompose(order, out _, out _);

    /// <summary>
    /// order = K·2^m with K = 1 (a power of two) or K one of the constructed bases (never 40: 40·2^m = 20·2^(m+1)).
    /// Refuses other orders with a message naming the order and the supported forms.
    /// </summary>
    public static (int BaseOrder, int PowerOfTwo) Decompose(int order)
    {
        if (!TryDecompose(order, out int baseOrder, out int powerOfTwo))
            throw new ArgumentException($"no Hadamard matrix of order {order} is available: {SupportedOrdersText}");
        return (baseOrder, powerOfTwo);
    }

    public static bool TryDecompose(int order, out int baseOrder, out int powerOfTwo)
    {
        baseOrder = powerOfTwo = 0;
        if (order <= 0) return false;
        int twos = 1 << System.Numerics.BitOperations.TrailingZeroCount(order);
        int odd = order / twos;
        if (odd == 1)
        {
            (baseOrder, powerOfTwo) = (1, order);
            return true;
        }
        // Every constructed base is 4·(odd part); 40 = 8·5 shares 20's odd part and is reached through it.
        foreach (int k in BaseOrders)
            if (k == 4 * odd && twos >= 4)
            {
                (baseOrder, powerOfTwo) = (k, order / k);
                return true;
            }
        return false;
    }

    /// <summary>The constructed base matrix H_K (K = 1 gives [1]), cached: it is small and built once.</summary>
    internal static HadamardMatrix BaseMatrix(int baseOrder) =>
        baseOrder == 1 ? HadamardConstructions.Sylvester(1) : BaseCache.GetOrAdd(baseOrder, Construct);

    private static HadamardMatrix Construct(int k) => k switch
    {
        12 => HadamardConstructions.PaleyI(11),
        20 => HadamardConstructions.PaleyI(19),
        28 => HadamardConstructions.PaleyII(13),
        36 => HadamardConstructions.PaleyII(17),
        52 => HadamardConstructions.PaleyII(25),
        60 => HadamardConstructions.PaleyI(59),
        108 => HadamardConstructions.PaleyI(107),
        140 => HadamardConstructions.PaleyI(139),
        156 => WilliamsonSequences.Order39.Build(),
        172 => GoethalsSeidelSequences.Order43.Build(),
        _ => throw new ArgumentException($"no construction for base order {k}: {SupportedOrdersText}"),
    };
}
