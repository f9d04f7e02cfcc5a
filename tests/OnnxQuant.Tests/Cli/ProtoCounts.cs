using OnnxQuant.Ir;
using OnnxQuant.Onnx.Proto;

namespace OnnxQuant.Tests.Cli;

/// <summary>Facts counted straight from the protobuf, independent of our IR, to check what inspect reports.</summary>
public static class ProtoCounts
{
    /// <summary>(domain, op type) -> [main graph, subgraphs, functions] node counts; the default domain is "".</summary>
    public static Dictionary<(string Domain, string OpType), int[]> OpHistogram(ModelProto model)
    {
        var counts = new Dictionary<(string, string), int[]>();
        void Walk(IEnumerable<NodeProto> nodes, int where, int nestedWhere)
        {
            foreach (var n in nodes)
            {
                var key = (n.Domain == "ai.onnx" ? "" : n.Domain, n.OpType);
                if (!counts.TryGetValue(key, out var c)) counts[key] = c = new int[3];
                c[where]++;
                foreach (var a in n.Attribute)
                {
                    if (a.G is not null) Walk(a.G.Node, nestedWhere, nestedWhere);
                    foreach (var g in a.Graphs) Walk(g.Node, nestedWhere, nestedWhere);
                }
            }
        }
        Walk(model.Graph.Node, 0, 1);
        foreach (var f in model.Functions) Walk(f.Node, 2, 2);
        return counts;
    }

    /// <summary>Number of constant tensors (initializers and Constant nodes, all graphs) and their element count.</summary>
    public static (int Tensors, long Elements) Parameters(ModelProto model)
    {
        int tensors = 0;
        long elements = 0;
        static long Count(IEnumerable<long> dims) => dims.Aggregate(1L, (a, b) => a * b);
        void Walk(GraphProto g)
        {
            foreach (var t in g.Initializer) { tensors++; elements += Count(t.Dims); }
            foreach (var n in g.Node)
            {
                if (n.OpType == "Constant" && (n.Domain is "" or "ai.onnx") && n.Attribute.Count == 1)
                {
                    var a = n.Attribute[0];
                    tensors++;
                    elements += a.Name switch
                    {
                        "value" => Count(a.T.Dims),
                        "sparse_value" => Count(a.SparseTensor.Dims),
                        "value_floats" => a.Floats.Count,
                        "value_ints" => a.Ints.Count,
                        "value_strings" => a.Strings.Count,
                        _ => 1,
                    };
                }
                foreach (var a in n.Attribute)
                {
                    if (a.G is not null) Walk(a.G);
                    foreach (var sub in a.Graphs) Walk(sub);
                }
            }
        }
        Walk(model.Graph);
        return (tensors, elements);
    }

    /// <summary>"name:elementtype[d0,d1,...]" with symbolic dims by name and unknown ones as '?'.</summary>
    public static string DescribeValue(ValueInfoProto v)
    {
        var t = v.Type.TensorType;
        string element = ((DataType)t.ElemType).OnnxName();
        return v.Name + ":" + element + "[" + string.Join(",", t.Shape.Dim.Select(d => d.ValueCase switch
        {
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue => d.DimValue.ToString(),
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam => d.DimParam,
            _ => "?",
        })) + "]";
    }
}
