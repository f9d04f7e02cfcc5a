namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// The finite field GF(q), q = p^k, as Paley's Hadamard constructions need it: addition, subtraction and the
/// quadratic character χ. Elements are 0..q−1, read as the base-p digits of a polynomial of degree below k; the
/// field is built on a primitive monic polynomial found by search. A polynomial whose root x has q−1 distinct powers
/// must be irreducible (in a ring that is not a field fewer than q−1 elements are units), so the search proves the
/// field it builds, and χ(a) = +1 exactly when log_x(a) is even.
/// </summary>
internal sealed class FiniteField
{
    public int Characteristic { get; }

    public int Degree { get; }

    public int Order { get; }

    private readonly sbyte[] _character;

    private FiniteField(int characteristic, int degree, sbyte[] character)
    {
        Characteristic = characteristic;
        Degree = degree;
        Order = character.Length;
        _character = character;
    }

    /// <summary>GF(<paramref name="order"/>), or null when <paramref name="order"/> is not a prime power.</summary>
    public static FiniteField? TryCreate(int order)
    {
        if (order < 2 || !TryPrimePower(order, out int p, out int k)) return null;
        foreach (var polynomial in MonicPolynomials(p, k))
        {
            var logarithms = TryLogarithms(p, k, order, polynomial);
            if (logarithms is null) continue;
            var character = new sbyte[order];
            for (int a = 1; a < order; a++) character[a] = logarithms[a] % 2 == 0 ? (sbyte)1 : (sbyte)-1;
            return new FiniteField(p, k, character);
        }
        throw new InvalidOperationException($"no primitive polynomial of degree {k} over GF({p}) found; this cannot happen");
    }

    public int Add(int a, int b) => Combine(a, b, +1);

    public int Subtract(int a, int b) => Combine(a, b, -1);

    /// <summary>χ(a): 0 for 0, +1 for a non-zero square, −1 otherwise.</summary>
    public int QuadraticCharacter(int a) => _character[a];

    private int Combine(int a, int b, int sign)
    {
        int p = Characteristic, result = 0, place = 1;
        for (int d = 0; d < Degree; d++)
        {
            int digit = ((a % p + sign * (b % p)) % p + p) % p;
            result += digit * place;
            place *= p;
            a /= p;
            b /= p;
        }
        return result;
    }

    private static bool TryPrimePower(int n, out int prime, out int exponent)
    {
        prime = 0;
        exponent = 0;
        for (int d = 2; d <= n; d++)
        {
            if (n % d != 0) continue;
            prime = d;
            while (n % d == 0)
            {
                n /= d;
                exponent++;
            }
            return n == 1;
        }
        return false;
    }

    // Lower coefficients c_0..c_{k−1} of x^k + c_{k−1}x^{k−1} + … + c_0, with c_0 ≠ 0 (else x divides it).
    private static IEnumerable<int[]> MonicPolynomials(int p, int k)
    {
        int count = 1;
        for (int i = 0; i < k; i++) count *= p;
        for (int code = 0; code < count; code++)
        {
            var coefficients = new int[k];
            int rest = code;
            for (int i = 0; i < k; i++)
            {
                coefficients[i] = rest % p;
                rest /= p;
            }
            if (coefficients[0] != 0) yield return coefficients;
        }
    }

    // log table of x modulo the polynomial, or null when x's powers repeat before covering all q−1 non-zero elements.
    private static int[]? TryLogarithms(int p, int k, int q, int[] polynomial)
    {
        var logarithms = new int[q];
        Array.Fill(logarithms, -1);
        var element = new int[k];
        element[0] = 1;
        for (int power = 0; power < q - 1; power++)
        {
            int code = Encode(element, p);
            if (logarithms[code] >= 0) return null;
            logarithms[code] = power;
            // element ← element·x: shift up, then replace x^k by −(c_{k−1}x^{k−1} + … + c_0).
            int top = element[k - 1];
            for (int i = k - 1; i > 0; i--) element[i] = element[i - 1];
            element[0] = 0;
            for (int i = 0; i < k; i++) element[i] = ((element[i] - top * polynomial[i]) % p + p) % p;
        }
        return logarithms;
    }

    private static int Encode(int[] digits, int p)
    {
        int code = 0;
        for (int i = digits.Length - 1; i >= 0; i--) code = code * p + digits[i];
        return code;
    }
}
