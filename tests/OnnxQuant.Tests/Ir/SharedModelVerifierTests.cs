using OnnxQuant.Ir.Serialization;
using OnnxQuant.Ir.Verification;

namespace OnnxQuant.Tests.Ir;

public class SharedModelVerifierTests
{
    public static TheoryData<string> SharedModels() => new(SharedPaths.AllModels().Select(Path.GetFileName)!);

    [Theory]
    [MemberData(nameof(SharedModels))]
    public void SharedModel_PassesTheVerifier_AsRead(string file)
    {
        using var model = OnnxReader.Read(SharedPaths.Model(file));
        var report = Verifier.Verify(model);
        Assert.True(report.IsValid, report.ToString());
    }
}
