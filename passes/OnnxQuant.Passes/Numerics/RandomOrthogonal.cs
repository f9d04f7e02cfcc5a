namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// Seeded random orthogonal matrices, distributed uniformly (Haar) over O(n): Q from the QR factorization of a matrix
/// of independent standard normals, with column j multiplied by sign(R_jj) — without that fix the distribution
/// depends on the QR routine's sign convention and is not uniform (Mezzadri, "How to generate random matrices from
/// the classical compact groups", 2007). QuaRot/SpinQuant use such matrices where a Hadamard is not wanted.
/// </summary>
public static class RandomOrthogonal
{
    public static DoubleMatrix Create(int order, int seed)
    {
        if (order <= 0)
            throw new ArgumentOutOfRangeException(nameof(order), order, "a random orthogonal matrix needs an order of at least 1");
        var gaussian = DoubleMatrix.FromRowMajor(order, order, SeededRandom.Gaussian(order * order, seed));
        var qr = gaussian.Inner.QR(MathNet.Numerics.LinearAlgebra.Factorization.QRMethod.Full);
        var q = qr.Q.Clone();
        var r = qr.R;
        for (int j = 0; j < order; j++)
            if (r[j, j] < 0)
                for (int i = 0; i < order; i++) q[i, j] = -q[i, j];
        return new(q);
    }
}
