using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.Evaluation;

/// <summary>The values of a floating-point tensor as float32, for comparing outputs of any float type.</summary>
public static class FloatValues
{
    public static bool IsComparable(DataType type) => type is DataType.Float or DataType.Float16 or DataType.Double;

    public static ReadOnlySpan<float> Of(Tensor t)
    {
        switch (t.ElementType)
        {
            case DataType.Float:
                return t.AsSpan<float>();
            case DataType.Float16:
            {
                var src = t.AsSpan<Half>();
                var dst = new float[src.Length];
                for (int i = 0; i < src.Length; i++) dst[i] = (float)src[i];
                return dst;
            }
            case DataType.Double:
            {
                var src = t.AsSpan<double>();
                var dst = new float[src.Length];
                for (int i = 0; i < src.Length; i++) dst[i] = (float)src[i];
                return dst;
            }
            default:
                throw new OnnxQuantException($"Cannot compare a {t.ElementType.OnnxName()} tensor as floating-point values.");
        }
    }

    /// <summary>
    /// A tensor visited in place (<see cref="OutputVisitor"/>) as floats: float data is read where it lies, float16 and
    /// double are widened or narrowed into a new array.
    /// </summary>
    public static ReadOnlySpan<float> Of(DataType type, ReadOnlySpan<byte> bytes)
    {
        switch (type)
        {
            case DataType.Float:
                return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes);
            case DataType.Float16:
            {
                var src = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(bytes);
                var dst = new float[src.Length];
                for (int i = 0; i < src.Length; i++) dst[i] = (float)src[i];
                return dst;
            }
            case DataType.Double:
            {
                var src = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(bytes);
                var dst = new float[src.Length];
                for (int i = 0; i < src.Length; i++) dst[i] = (float)src[i];
                return dst;
            }
            default:
                throw new OnnxQuantException($"Cannot compare a {type.OnnxName()} tensor as floating-point values.");
        }
    }
}
