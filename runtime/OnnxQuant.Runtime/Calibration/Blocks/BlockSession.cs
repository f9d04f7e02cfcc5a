using System.Buffers;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime.Kernels;

namespace OnnxQuant.Runtime.Calibration.Blocks;

/// <summary>
/// An ONNX Runtime session over one <see cref="GraphBlock"/> of a model, built from the IR without materializing the
/// rest of the model: the block's nodes read its <see cref="GraphBlock.Inputs"/> as graph inputs and expose the
/// requested values as graph outputs. Weights of <see cref="SuppliedBytes"/> or more are not copied into the
/// session's model bytes: ORT gets them as initializers over the tensor's own memory (pinned managed bytes or the
/// mapped external data file). When the session ends, the mapped pages it touched are handed back to the OS
/// (<c>madvise(MADV_DONTNEED)</c>; the page cache keeps them), so resident memory holds one block's weights at a time
/// however large the model.
/// </summary>
internal sealed class BlockSession : IDisposable
{
    /// <summary>Weights at least this large are handed to ORT in place; smaller ones (shapes, scalars) go in the model bytes.</summary>
    public const long SuppliedBytes = 4096;

    private const string PlaceholderLocation = "supplied-initializers.bin";

    private readonly ModelRunner _runner;
    private readonly List<OrtValue> _values = [];
    private readonly List<MemoryHandle> _pins = [];
    private readonly List<(IntPtr Pointer, long Length)> _mapped = [];

    public BlockSession(Model model, GraphBlock block, IReadOnlyList<string> exposed, IReadOnlyDictionary<Value, DataType> inputTypes,
        Func<Value, string> nameOf, RunnerOptions options)
    {
        var sub = new Model(new Graph { Name = $"block{block.Index}" }) { IrVersion = model.IrVersion };
        sub.OpsetImports.AddRange(model.OpsetImports);
        sub.Functions.AddRange(model.Functions);
        var graph = sub.Graph;
        var map = new Dictionary<Value, Value>();
        var supplied = new List<(string Name, Tensor Tensor)>();
        foreach (var v in block.Inputs)
            map[v] = graph.AddInput(nameOf(v), new TensorType(inputTypes[v]));
        Value Map(Value v)
        {
            if (map.TryGetValue(v, out var known)) return known;
            var tensor = v.Const ?? throw new InvalidOperationException($"Block {block.Index} reads {v}, which is neither its input nor a constant.");
            Value mapped;
            if (tensor.ByteLength >= SuppliedBytes && tensor.ElementType != DataType.String && tensor.SparseForm is null)
            {
                mapped = graph.AddInput(nameOf(v), new TensorType(tensor.ElementType, new Shape(tensor.Dims.ToArray())));
                supplied.Add((mapped.Name!, tensor));
            }
            else mapped = graph.AddConstant(tensor, nameOf(v));
            return map[v] = mapped;
        }
        foreach (var n in block.Nodes)
        {
            var inputs = n.Inputs.Select(v => v is null ? null : Map(v)).ToList();
            var copy = new Node(n.OpType, inputs, n.Outputs.Count, n.Domain, n.Attributes, n.Name,
                n.Outputs.Select(o => o is null ? "" : nameOf(o)).ToList()) { Overload = n.Overload };
            graph.Append(copy);
            for (int i = 0; i < n.Outputs.Count; i++)
                if (n.Outputs[i] is { } original)
                {
                    copy.Outputs[i]!.Type = original.Type;
                    map[original] = copy.Outputs[i]!;
                }
        }
        var byName = map.Values.ToDictionary(v => v.Name!, StringComparer.Ordinal);
        foreach (string name in exposed) graph.Outputs.Add(byName[name]);

        var proto = OnnxWriter.ToProto(sub);
        var placeholders = supplied.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        for (int i = proto.Graph.Input.Count - 1; i >= 0; i--)
            if (placeholders.Contains(proto.Graph.Input[i].Name)) proto.Graph.Input.RemoveAt(i);
        var initializers = new List<KeyValuePair<string, OrtValue>>();
        long placeholderBytes = 0;
        try
        {
            foreach (var (name, tensor) in supplied)
            {
                // Declared as external data ORT never reads: the session options supply the bytes.
                var declared = new Onnx.Proto.TensorProto { Name = name, DataType = (int)tensor.ElementType, DataLocation = Onnx.Proto.TensorProto.Types.DataLocation.External };
                declared.Dims.AddRange(tensor.Dims);
                declared.ExternalData.Add(new Onnx.Proto.StringStringEntryProto { Key = "location", Value = PlaceholderLocation });
                declared.ExternalData.Add(new Onnx.Proto.StringStringEntryProto { Key = "offset", Value = placeholderBytes.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                placeholderBytes += tensor.ByteLength;
                declared.ExternalData.Add(new Onnx.Proto.StringStringEntryProto { Key = "length", Value = tensor.ByteLength.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                proto.Graph.Initializer.Add(declared);
                var pin = tensor.RawData.Pin();
                _pins.Add(pin);
                IntPtr pointer;
                unsafe { pointer = (IntPtr)pin.Pointer; }
                if (tensor.IsMapped) _mapped.Add((pointer, tensor.ByteLength));
                var value = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance,
                    (Microsoft.ML.OnnxRuntime.Tensors.TensorElementType)(int)tensor.ElementType, tensor.Dims.ToArray(), pointer, tensor.ByteLength);
                _values.Add(value);
                initializers.Add(new(name, value));
            }
            _runner = ModelRunner.FromProto(proto, options, KernelLibrary.IsUsedBy(sub), initializers, PlaceholderLocation, placeholderBytes);
        }
        catch
        {
            ReleaseWeights();
            throw;
        }
    }

    public RunOutputs Run(IReadOnlyDictionary<string, Tensor> feeds, IReadOnlyList<string> names) => _runner.RunAndKeep(feeds, names);

    public void Dispose()
    {
        _runner.Dispose();
        ReleaseWeights();
    }

    private void ReleaseWeights()
    {
        foreach (var v in _values) v.Dispose();
        foreach (var p in _pins) p.Dispose();
        if (OperatingSystem.IsLinux())
            foreach (var (pointer, length) in _mapped) MappedPages.Release(pointer, length);
        _values.Clear();
        _pins.Clear();
        _mapped.Clear();
    }
}
