using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Tensor = OnnxQuant.Ir.Tensor;
using OnnxQuant.Ir;

namespace OnnxQuant.Runtime;

/// <summary>Copies between IR tensors and ONNX Runtime values (ORT's element type ids are ONNX's).</summary>
public static class OrtTensors
{
    public static OrtValue ToOrtValue(Tensor tensor)
    {
        long[] shape = tensor.Dims.ToArray();
        if (tensor.ElementType == DataType.String)
        {
            var value = OrtValue.CreateTensorWithEmptyStrings(OrtAllocator.DefaultInstance, shape);
            for (int i = 0; i < tensor.Strings.Count; i++)
                value.StringTensorSetElementAt(System.Text.Encoding.UTF8.GetString(tensor.Strings[i]).AsSpan(), i);
            return value;
        }
        var ort = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, (TensorElementType)(int)tensor.ElementType, shape);
        tensor.RawData.Span.CopyTo(ort.GetTensorMutableRawData());
        return ort;
    }

    public static Tensor FromOrtValue(OrtValue value)
    {
        if (!value.IsTensor) throw new NotSupportedException("Only tensor outputs are supported (not sequences or maps).");
        var info = value.GetTensorTypeAndShape();
        var type = (DataType)(int)info.ElementDataType;
        long[] dims = info.Shape;
        if (type == DataType.String)
            return Tensor.FromStrings(dims, value.GetStringTensorAsArray());
        return Tensor.FromRaw(type, dims, value.GetTensorMutableRawData().ToArray());
    }
}
