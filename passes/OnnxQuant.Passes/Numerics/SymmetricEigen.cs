using MathNet.Numerics.LinearAlgebra;

namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// Eigen-decomposition A = V·diag(λ)·Vᵀ of a symmetric matrix (MathNet.Numerics' tridiagonal QL), eigenvalues in
/// ascending order, V orthogonal with column k the eigenvector of λ_k. For spectra of Hessians and covariances
/// (e.g. checking a damped GPTQ Hessian's conditioning, or principal directions of activations).
/// </summary>
public sealed class SymmetricEigen
{
    public double[] Values { get; }

    public DoubleMatrix Vectors { get; }

    private SymmetricEigen(double[] values, DoubleMatrix vectors)
    {
        Values = values;
        Vectors = vectors;
    }

    public static SymmetricEigen Decompose(DoubleMatrix symmetric)
    {
        symmetric.RequireSquare("a symmetric eigen-decomposition");
        var evd = symmetric.Inner.Evd(Symmetricity.Symmetric);
        int n = symmetric.Rows;
        var values = new double[n];
        for (int k = 0; k < n; k++) values[k] = evd.EigenValues[k].Real;
        // The library returns ascending values for symmetric input; sort anyway so the contract does not rest on it.
        var order = Enumerable.Range(0, n).OrderBy(k => values[k]).ToArray();
        var vectors = Matrix<double>.Build.Dense(n, n, (i, k) => evd.EigenVectors[i, order[k]]);
        return new(order.Select(k => values[k]).ToArray(), new DoubleMatrix(vectors));
    }
}
