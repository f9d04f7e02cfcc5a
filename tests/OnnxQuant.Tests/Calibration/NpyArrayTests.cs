using OnnxQuant.Ir;
using OnnxQuant.Runtime.DataSources;

namespace OnnxQuant.Tests.Calibration;

public sealed class NpyArrayTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("npy-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string File(string name) => Path.Combine(_dir, name);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void ReadsEveryFormatVersionsHeaderAndRows(int version)
    {
        var values = Enumerable.Range(0, 24).Select(i => i * 0.5f - 3).ToArray();
        NpyFiles.WriteFloats(File("a.npy"), [4, 2, 3], values, version);
        using var a = NpyArray.Open(File("a.npy"));
        Assert.Equal(version, a.Version);
        Assert.Equal(DataType.Float, a.ElementType);
        Assert.Equal([4L, 2, 3], a.Shape);
        Assert.Equal(0, a.DataOffset % 64);
        var rows = a.ReadRowsTensor(1, 2);
        Assert.Equal([2L, 2, 3], rows.Dims);
        Assert.Equal(values[6..18], rows.AsSpan<float>().ToArray());
    }

    [Theory]
    [InlineData("<i8", DataType.Int64, 8)]
    [InlineData("<i4", DataType.Int32, 4)]
    [InlineData("|u1", DataType.UInt8, 1)]
    [InlineData("|i1", DataType.Int8, 1)]
    [InlineData("|b1", DataType.Bool, 1)]
    [InlineData("<f2", DataType.Float16, 2)]
    [InlineData("<f8", DataType.Double, 8)]
    [InlineData("<u2", DataType.UInt16, 2)]
    public void MapsNumpyTypesToOnnxTypesAndKeepsTheBytes(string descr, DataType type, int size)
    {
        var bytes = Enumerable.Range(0, 3 * size).Select(i => (byte)(i % 2)).ToArray();
        NpyFiles.Write(File("t.npy"), descr, [3], bytes);
        using var a = NpyArray.Open(File("t.npy"));
        Assert.Equal(type, a.ElementType);
        Assert.Equal(bytes, a.ReadAll().RawData.ToArray());
    }

    [Fact]
    public void ReadsTheSharedMnistCalibrationFile()
    {
        using var a = NpyArray.Open(Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy"));
        Assert.Equal([256L, 1, 28, 28], a.Shape);
        Assert.Equal(DataType.Float, a.ElementType);
        // Pixel 0 of MNIST is black: (0/255 − 0.1307)/0.3081.
        Assert.Equal((float)((0 - 0.1307) / 0.3081), a.ReadRowsTensor(0, 1).AsSpan<float>()[0], 5);
    }

    [Fact]
    public void RefusesFortranOrderSayingHowToResave()
    {
        NpyFiles.Write(File("f.npy"), "<f4", [2, 3], new byte[24], fortranOrder: true);
        var e = Assert.Throws<OnnxQuantException>(() => NpyArray.Open(File("f.npy")));
        Assert.Contains("Fortran order", e.Message);
        Assert.Contains("f.npy", e.Message);
        Assert.Contains("ascontiguousarray", e.Message);
    }

    [Fact]
    public void RefusesBigEndianSayingHowToResave()
    {
        NpyFiles.Write(File("b.npy"), ">f4", [2], new byte[8]);
        var e = Assert.Throws<OnnxQuantException>(() => NpyArray.Open(File("b.npy")));
        Assert.Contains("big-endian", e.Message);
        Assert.Contains("'<f4'", e.Message);
    }

    [Fact]
    public void RefusesTruncatedDataNamingTheSizes()
    {
        NpyFiles.Write(File("t.npy"), "<f4", [10], new byte[16]);
        var e = Assert.Throws<OnnxQuantException>(() => NpyArray.Open(File("t.npy")));
        Assert.Contains("truncated", e.Message);
        Assert.Contains("40 bytes", e.Message);
    }

    [Fact]
    public void RefusesFilesThatAreNotNpy()
    {
        System.IO.File.WriteAllText(File("x.npy"), "hello, world");
        Assert.Contains("not a NumPy .npy file", Assert.Throws<OnnxQuantException>(() => NpyArray.Open(File("x.npy"))).Message);
    }

    [Fact]
    public void RefusesUnsupportedTypes()
    {
        NpyFiles.Write(File("c.npy"), "<c8", [1], new byte[8]);
        Assert.Contains("'<c8'", Assert.Throws<OnnxQuantException>(() => NpyArray.Open(File("c.npy"))).Message);
    }
}
