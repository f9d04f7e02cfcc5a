namespace OnnxQuant.Tests.Numerics;

/// <summary>
/// The search that derived the committed Williamson sequences (OnnxQuant.Passes.Numerics.WilliamsonSequences), kept
/// so the table can be re-derived: order 13 runs in the tests; order 39 (row sums −9, −5, −5, −5) took 18 minutes on a heavily loaded 2-core machine.
/// Symmetric circulants of odd order m with first entry +1 are set by h = (m − 1)/2 signs; their DFT
/// F(k) = 1 + 2Σⱼ xⱼcos(2πjk/m) is real, and A² + B² + C² + D² = 4m·I holds exactly when
/// F_A(k)² + F_B(k)² + F_C(k)² + F_D(k)² = 4m for k = 0..h (F(0) is the row sum). Williamson's lemma adds
/// aⱼbⱼcⱼdⱼ = −1 for j ≥ 1. Pairs (A, B) are keyed by (a∘b, F_A² + F_B²) and probed with (−c∘d, 4m − F_C² − F_D²);
/// every hit is checked exactly on the periodic autocorrelations.
/// </summary>
internal static class WilliamsonSearch
{
    public static (string A, string B, string C, string D)? Find(int m, int rowSumA, int rowSumB, int rowSumC, int rowSumD)
    {
        int h = (m - 1) / 2;
        double fourM = 4.0 * m;
        var cosines = new double[h + 1, h + 1];
        for (int k = 0; k <= h; k++)
            for (int j = 1; j <= h; j++) cosines[k, j] = 2 * Math.Cos(2 * Math.PI * j * k / m);
        // Candidates: bit j−1 set means entry j is −1. Keep those whose every |F(k)|² ≤ 4m.
        var candidates = new List<(int Bits, int RowSum, double[] Power)>();
        for (int bits = 0; bits < 1 << h; bits++)
        {
            var power = new double[h + 1];
            int rowSum = 0;
            bool fits = true;
            for (int k = 0; k <= h && fits; k++)
            {
                double f = 1;
                for (int j = 1; j <= h; j++) f += ((bits >> (j - 1)) & 1) == 0 ? cosines[k, j] : -cosines[k, j];
                power[k] = f * f;
                fits = power[k] <= fourM + 1e-9;
                if (k == 0) rowSum = (int)Math.Round(f);
            }
            if (fits) candidates.Add((bits, rowSum, power));
        }
        (int Bits, int RowSum, double[] Power)[] With(int rowSum) => candidates.Where(c => c.RowSum == rowSum).ToArray();
        var groupA = With(rowSumA);
        var groupB = With(rowSumB);
        var keys = new List<ulong>();
        var pairs = new List<(int, int)>();
        var sum = new double[h + 1];
        for (int a = 0; a < groupA.Length; a++)
            for (int b = 0; b < groupB.Length; b++)
                if (AddPowers(groupA[a].Power, groupB[b].Power, sum, fourM, subtractFrom: false))
                {
                    keys.Add(Key(groupA[a].Bits ^ groupB[b].Bits, sum));
                    pairs.Add((a, b));
                }
        var keyArray = keys.ToArray();
        var pairArray = pairs.ToArray();
        Array.Sort(keyArray, pairArray);
        int all = (1 << h) - 1;
        foreach (var c in With(rowSumC))
            foreach (var d in With(rowSumD))
            {
                if (!AddPowers(c.Power, d.Power, sum, fourM, subtractFrom: true)) continue;
                var key = Key(~(c.Bits ^ d.Bits) & all, sum);
                int at = Array.BinarySearch(keyArray, key);
                if (at < 0) continue;
                while (at > 0 && keyArray[at - 1] == key) at--;
                for (; at < keyArray.Length && keyArray[at] == key; at++)
                {
                    var rows = new[] { Row(m, groupA[pairArray[at].Item1].Bits), Row(m, groupB[pairArray[at].Item2].Bits), Row(m, c.Bits), Row(m, d.Bits) };
                    if (AutocorrelationsCancel(rows)) return (rows[0], rows[1], rows[2], rows[3]);
                }
            }
        return null;
    }

    // sum[k] = p[k] + q[k] (or 4m − p[k] − q[k]) for k ≥ 1; false when a pair already exceeds 4m somewhere.
    private static bool AddPowers(double[] p, double[] q, double[] sum, double fourM, bool subtractFrom)
    {
        for (int k = 1; k < p.Length; k++)
        {
            double s = p[k] + q[k];
            if (s > fourM + 1e-9) return false;
            sum[k] = subtractFrom ? fourM - s : s;
        }
        return true;
    }

    // The spectra are sums of squares of cosine sums: equal values agree far below 1/64, so rounding them is a key.
    private static ulong Key(int mask, double[] sum)
    {
        ulong hash = Mix((ulong)mask + 0x9E3779B97F4A7C15UL);
        for (int k = 1; k < sum.Length; k++) hash = Mix(hash ^ (ulong)(long)Math.Round(sum[k] * 64)) + (ulong)k;
        return hash;
    }

    private static ulong Mix(ulong x)
    {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdUL;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53UL;
        return x ^ (x >> 33);
    }

    private static string Row(int m, int bits)
    {
        var row = new char[m];
        row[0] = '+';
        for (int j = 1; j <= (m - 1) / 2; j++) row[j] = row[m - j] = ((bits >> (j - 1)) & 1) == 0 ? '+' : '-';
        return new string(row);
    }

    private static bool AutocorrelationsCancel(string[] rows)
    {
        int m = rows[0].Length;
        for (int shift = 1; shift < m; shift++)
        {
            int total = 0;
            foreach (var row in rows)
                for (int i = 0; i < m; i++) total += (row[i] == row[(i + shift) % m]) ? 1 : -1;
            if (total != 0) return false;
        }
        return true;
    }
}
