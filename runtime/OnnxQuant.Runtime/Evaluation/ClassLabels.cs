using OnnxQuant.Ir;
using OnnxQuant.Runtime.DataSources;

namespace OnnxQuant.Runtime.Evaluation;

/// <summary>Class ids from a .npy of int64 or int32, shape [N] or [N, 1], read one at a time.</summary>
public sealed class ClassLabels : IDisposable
{
    private readonly NpyArray _array;

    private ClassLabels(NpyArray array) => _array = array;

    public long Count => _array.Rows;

    public static ClassLabels Open(string path)
    {
        if (!File.Exists(path)) throw new OnnxQuantException($"The labels file {path} does not exist.");
        var array = NpyArray.Open(path);
        bool typeOk = array.ElementType is DataType.Int64 or DataType.Int32;
        bool shapeOk = array.Shape.Count == 1 || (array.Shape.Count == 2 && array.Shape[1] == 1);
        if (!typeOk || !shapeOk)
        {
            array.Dispose();
            throw new OnnxQuantException($"{path} holds '{array.Descr}' of shape [{string.Join(",", array.Shape)}]; classify labels are class ids, int64 or int32 of shape [N]. "
                + "Save them with numpy.save(path, labels.astype(numpy.int64)).");
        }
        return new ClassLabels(array);
    }

    public long this[int sample]
    {
        get
        {
            var t = _array.ReadRowsTensor(sample, 1);
            return t.ElementType == DataType.Int64 ? t.AsSpan<long>()[0] : t.AsSpan<int>()[0];
        }
    }

    public void Dispose() => _array.Dispose();
}
