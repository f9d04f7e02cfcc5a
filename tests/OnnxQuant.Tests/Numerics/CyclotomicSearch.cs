namespace OnnxQuant.Tests.Numerics;

/// <summary>
/// The search that derived the committed Goethals–Seidel sequences (OnnxQuant.Passes.Numerics.GoethalsSeidelSequences),
/// kept so the table is re-derived by the tests (order 43 takes milliseconds). It looks for four ±1 sequences of prime
/// length p whose periodic autocorrelations sum to zero at every nonzero shift, restricted to sequences whose −1
/// positions are a union of cyclotomic classes of order e (the cosets of the e-th powers in GF(p)*, classes numbered
/// by the discrete logarithm to the smallest primitive root, mod e), with or without 0. Such a sequence is invariant
/// under multiplication by e-th powers, so its autocorrelation PAF(s) depends only on the class of s, and
/// PAF(s) = PAF(−s): a few shift representatives decide everything. Pairs (A, B) are keyed by PAF_A + PAF_B there and
/// probed with −(PAF_C + PAF_D) (meet in the middle); every hit is checked exactly on all p − 1 shifts. Negating a
/// sequence keeps its autocorrelations, so each row sum is taken positive (−1 count (p − sum)/2).
/// A stochastic local search over unrestricted sequences (swap moves, fixed row sums) did not reach order 43 in the
/// few CPU minutes it had; the cyclotomic restriction shrinks the space to 35 candidates per row for e = 7.
/// </summary>
internal static class CyclotomicSearch
{
    private sealed record Candidate(string Row, int[] Autocorrelations);

    public static (string A, string B, string C, string D)? Find(int p, int e, int rowSumA, int rowSumB, int rowSumC, int rowSumD)
    {
        int g = Enumerable.Range(2, p - 2).First(x => MultiplicativeOrder(x, p) == p - 1);
        var classOf = new int[p];
        for (int j = 0, x = 1; j < p - 1; j++, x = x * g % p) classOf[x] = j % e;
        // g^((p−1)/2) = −1, so classes j and j + (p−1)/2 (mod e) have equal autocorrelations: keep one of each.
        int half = (p - 1) / 2 % e;
        var shifts = Enumerable.Range(0, e).Where(j => j <= (j + half) % e).Select(j => Power(g, j, p)).ToArray();
        var lists = new[] { rowSumA, rowSumB, rowSumC, rowSumD }
            .Select(sum => Candidates(p, e, classOf, shifts, Math.Abs(sum))).ToArray();
        var pairs = new Dictionary<string, List<(int A, int B)>>();
        for (int a = 0; a < lists[0].Length; a++)
            for (int b = 0; b < lists[1].Length; b++)
            {
                var key = Key(lists[0][a].Autocorrelations, lists[1][b].Autocorrelations, 1);
                if (!pairs.TryGetValue(key, out var list)) pairs[key] = list = [];
                list.Add((a, b));
            }
        foreach (var c in lists[2])
            foreach (var d in lists[3])
            {
                if (!pairs.TryGetValue(Key(c.Autocorrelations, d.Autocorrelations, -1), out var hits)) continue;
                foreach (var (a, b) in hits)
                {
                    var rows = new[] { lists[0][a].Row, lists[1][b].Row, c.Row, d.Row };
                    if (Enumerable.Range(1, p - 1).All(s => rows.Sum(row => Autocorrelation(row, s)) == 0))
                        return (rows[0], rows[1], rows[2], rows[3]);
                }
            }
        return null;
    }

    // Bits 0..e−1 of the mask select classes, bit e the element 0; the row has exactly (p − rowSum)/2 entries −1.
    private static Candidate[] Candidates(int p, int e, int[] classOf, int[] shifts, int rowSum)
    {
        int minusCount = (p - rowSum) / 2, classSize = (p - 1) / e;
        var found = new List<Candidate>();
        for (int mask = 0; mask < 1 << (e + 1); mask++)
        {
            if (System.Numerics.BitOperations.PopCount((uint)(mask & ((1 << e) - 1))) * classSize + ((mask >> e) & 1) != minusCount)
                continue;
            var row = new char[p];
            row[0] = ((mask >> e) & 1) == 1 ? '-' : '+';
            for (int i = 1; i < p; i++) row[i] = ((mask >> classOf[i]) & 1) == 1 ? '-' : '+';
            var text = new string(row);
            found.Add(new Candidate(text, shifts.Select(s => Autocorrelation(text, s)).ToArray()));
        }
        return found.ToArray();
    }

    private static string Key(int[] u, int[] v, int sign) => string.Join(',', u.Zip(v, (x, y) => sign * (x + y)));

    private static int Autocorrelation(string row, int shift)
    {
        int total = 0;
        for (int i = 0; i < row.Length; i++) total += row[i] == row[(i + shift) % row.Length] ? 1 : -1;
        return total;
    }

    private static int MultiplicativeOrder(int x, int p)
    {
        int order = 1;
        for (int y = x % p; y != 1; y = y * x % p) order++;
        return order;
    }

    private static int Power(int b, int k, int p)
    {
        int r = 1;
        for (int i = 0; i < k; i++) r = r * b % p;
        return r;
    }
}
