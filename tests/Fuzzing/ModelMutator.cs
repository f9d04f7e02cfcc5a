using Google.Protobuf;
using OnnxQuant.Onnx.Proto;

namespace OnnxQuant.Fuzzing;

/// <summary>
/// Makes a broken model from a real one, deterministically from a <see cref="Random"/>: byte-level damage (bit flips,
/// truncation, overwritten runs) and field-level damage of the parsed protobuf (wrong element types, huge and negative
/// dimensions, raw data of the wrong length, cycles, dangling and duplicated names, missing or wrong opsets, IR
/// versions and attributes, unknown operators, damaged subgraphs, bad external-data entries). Each mutation says what
/// it did, so a failing case can be reproduced and read.
/// </summary>
public static class ModelMutator
{
    private delegate string? FieldMutation(ModelProto model, Random random);

    private static readonly (string Name, FieldMutation Apply)[] FieldMutations =
    [
        ("tensor-type", TensorType),
        ("huge-dim", (m, r) => InitializerDim(m, r, [1L << 40, long.MaxValue, 1L << 31, int.MaxValue + 7L])),
        ("negative-dim", (m, r) => InitializerDim(m, r, [-1, -7, long.MinValue, -(1L << 40)])),
        ("zero-dim", (m, r) => InitializerDim(m, r, [0])),
        ("rank", TensorRank),
        ("raw-data-length", RawDataLength),
        ("typed-data", TypedData),
        ("input-shape", InputShape),
        ("input-type", InputType),
        ("cycle", Cycle),
        ("self-loop", SelfLoop),
        ("dangling-input", DanglingInput),
        ("duplicate-output", DuplicateOutput),
        ("remove-node", RemoveNode),
        ("empty-name", EmptyName),
        ("graph-output", GraphOutput),
        ("duplicate-initializer", DuplicateInitializer),
        ("opset", Opset),
        ("ir-version", IrVersion),
        ("attribute-type", AttributeType),
        ("remove-attribute", RemoveAttribute),
        ("attribute-value", AttributeValue),
        ("unknown-op", UnknownOp),
        ("subgraph", Subgraph),
        ("external-data", ExternalData),
        ("string-tensor", StringTensor),
        ("node-arity", NodeArity),
    ];

    /// <summary>Mutation names, for reports.</summary>
    public static IEnumerable<string> Names => FieldMutations.Select(m => m.Name).Concat(["bit-flip", "truncate", "overwrite"]);

    /// <summary>Returns the mutated bytes and what was done. <paramref name="original"/> is not changed.</summary>
    public static (byte[] Bytes, string Description) Mutate(byte[] original, Random random)
    {
        int roll = random.Next(100);
        if (roll < 12) return BitFlips(original, random);
        if (roll < 20) return Truncate(original, random);
        if (roll < 25) return Overwrite(original, random);
        var model = ModelProto.Parser.ParseFrom(original);
        // One to three field mutations; those that find nothing to change are tried again with another kind.
        int wanted = roll < 85 ? 1 : random.Next(2, 4);
        var done = new List<string>();
        for (int attempt = 0; attempt < 20 && done.Count < wanted; attempt++)
        {
            var (name, apply) = FieldMutations[random.Next(FieldMutations.Length)];
            if (apply(model, random) is { } what) done.Add($"{name}: {what}");
        }
        if (done.Count == 0) return BitFlips(original, random);
        return (model.ToByteArray(), string.Join("; ", done));
    }

    private static (byte[], string) BitFlips(byte[] original, Random random)
    {
        var bytes = (byte[])original.Clone();
        int flips = random.Next(1, 17);
        var at = new List<string>();
        for (int i = 0; i < flips; i++)
        {
            // Half the flips land in the first 4 KB, where the graph structure (not weight bytes) usually is.
            int position = random.Next(2) == 0 ? random.Next(Math.Min(4096, bytes.Length)) : random.Next(bytes.Length);
            int bit = random.Next(8);
            bytes[position] ^= (byte)(1 << bit);
            at.Add($"{position}.{bit}");
        }
        return (bytes, $"bit-flip: {string.Join(",", at)}");
    }

    private static (byte[], string) Truncate(byte[] original, Random random)
    {
        int length = random.Next(3) switch
        {
            0 => random.Next(Math.Min(64, original.Length)),
            1 => original.Length - 1 - random.Next(Math.Min(64, original.Length - 1)),
            _ => random.Next(original.Length),
        };
        return (original[..length], $"truncate: {length} of {original.Length} bytes");
    }

    private static (byte[], string) Overwrite(byte[] original, Random random)
    {
        var bytes = (byte[])original.Clone();
        int length = random.Next(1, 64), start = random.Next(bytes.Length - Math.Min(length, bytes.Length - 1));
        byte fill = (byte)(random.Next(3) switch { 0 => 0x00, 1 => 0xFF, _ => random.Next(256) });
        for (int i = start; i < Math.Min(bytes.Length, start + length); i++) bytes[i] = fill;
        return (bytes, $"overwrite: {length} bytes at {start} with 0x{fill:X2}");
    }

    private static T? Pick<T>(IList<T> items, Random random) where T : class => items.Count == 0 ? null : items[random.Next(items.Count)];

    /// <summary>Every graph of the model: the main graph and, depth first, the bodies of If/Loop/Scan.</summary>
    private static List<GraphProto> Graphs(ModelProto model)
    {
        var graphs = new List<GraphProto>();
        void Visit(GraphProto g)
        {
            graphs.Add(g);
            foreach (var node in g.Node)
                foreach (var a in node.Attribute)
                {
                    if (a.G is { } sub) Visit(sub);
                    foreach (var s in a.Graphs) Visit(s);
                }
        }
        if (model.Graph is { } main) Visit(main);
        return graphs;
    }

    private static GraphProto? AnyGraph(ModelProto model, Random random)
    {
        var graphs = Graphs(model);
        // Mostly the main graph: it is where most of the model is.
        return graphs.Count == 0 ? null : random.Next(4) == 0 ? graphs[random.Next(graphs.Count)] : graphs[0];
    }

    private static TensorProto? AnyInitializer(ModelProto model, Random random) =>
        AnyGraph(model, random) is { } g ? Pick(g.Initializer, random) : null;

    private static NodeProto? AnyNode(ModelProto model, Random random) =>
        AnyGraph(model, random) is { } g ? Pick(g.Node, random) : null;

    private static string? TensorType(ModelProto model, Random random)
    {
        if (AnyInitializer(model, random) is not { } t) return null;
        int[] types = [0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 16, 17, 21, 22, 23, 99, -1];
        int type = types[random.Next(types.Length)];
        string was = t.DataType.ToString();
        t.DataType = type;
        return $"'{t.Name}' data type {was} → {type}";
    }

    private static string? InitializerDim(ModelProto model, Random random, long[] values)
    {
        if (AnyInitializer(model, random) is not { } t) return null;
        long value = values[random.Next(values.Length)];
        if (t.Dims.Count == 0) t.Dims.Add(value);
        else t.Dims[random.Next(t.Dims.Count)] = value;
        return $"'{t.Name}' dims [{string.Join(",", t.Dims)}]";
    }

    private static string? TensorRank(ModelProto model, Random random)
    {
        if (AnyInitializer(model, random) is not { } t) return null;
        int rank = random.Next(3) switch { 0 => 0, 1 => 64, _ => t.Dims.Count + 1 };
        var dims = Enumerable.Repeat(1L, rank).ToList();
        if (rank > 0 && rank == t.Dims.Count + 1) dims = [.. t.Dims, 1];
        t.Dims.Clear();
        t.Dims.AddRange(dims);
        return $"'{t.Name}' rank {rank}";
    }

    private static string? RawDataLength(ModelProto model, Random random)
    {
        if (AnyInitializer(model, random) is not { RawData.Length: > 0 } t) return null;
        int length = random.Next(3) switch
        {
            0 => 0,
            1 => Math.Max(0, t.RawData.Length - 1 - random.Next(8)),
            _ => t.RawData.Length + 1 + random.Next(64),
        };
        var bytes = new byte[length];
        t.RawData.Span[..Math.Min(length, t.RawData.Length)].CopyTo(bytes);
        t.RawData = ByteString.CopyFrom(bytes);
        return $"'{t.Name}' raw_data {length} bytes";
    }

    private static string? TypedData(ModelProto model, Random random)
    {
        if (AnyInitializer(model, random) is not { } t) return null;
        // Both raw and typed data, or typed data of the wrong kind or length.
        switch (random.Next(3))
        {
            case 0: t.FloatData.Add(1.5f); return $"'{t.Name}' float_data beside raw_data";
            case 1: t.Int64Data.Add([1, 2, 3]); return $"'{t.Name}' int64_data added";
            default:
                t.RawData = ByteString.Empty;
                t.DoubleData.Add(Enumerable.Repeat(double.NaN, random.Next(1, 5)));
                return $"'{t.Name}' double_data instead of raw_data";
        }
    }

    private static string? InputShape(ModelProto model, Random random)
    {
        if (model.Graph is not { } g || Pick(g.Input, random) is not { Type.TensorType.Shape: { } shape } input) return null;
        long[] values = [-1, 0, 1L << 40, long.MaxValue, -(1L << 33)];
        if (shape.Dim.Count == 0 || random.Next(4) == 0)
        {
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = values[random.Next(values.Length)] });
            return $"input '{input.Name}' gains a dimension";
        }
        var dim = shape.Dim[random.Next(shape.Dim.Count)];
        if (random.Next(3) == 0) dim.DimParam = random.Next(2) == 0 ? "" : "N\0x";
        else dim.DimValue = values[random.Next(values.Length)];
        return $"input '{input.Name}' shape [{string.Join(",", shape.Dim.Select(d => d.HasDimValue ? d.DimValue.ToString() : d.DimParam))}]";
    }

    private static string? InputType(ModelProto model, Random random)
    {
        if (model.Graph is not { } g || Pick(g.Input, random) is not { } input) return null;
        switch (random.Next(3))
        {
            case 0:
                input.Type = null;
                return $"input '{input.Name}' has no type";
            case 1:
                input.Type = new TypeProto { SequenceType = new TypeProto.Types.Sequence { ElemType = new TypeProto() } };
                return $"input '{input.Name}' is a sequence";
            default:
                if (input.Type?.TensorType is not { } tensor) return null;
                tensor.ElemType = new[] { 0, 8, 13, 99 }[random.Next(4)];
                return $"input '{input.Name}' element type {tensor.ElemType}";
        }
    }

    private static string? Cycle(ModelProto model, Random random)
    {
        if (AnyGraph(model, random) is not { Node.Count: >= 2 } g) return null;
        int i = random.Next(g.Node.Count - 1), j = random.Next(i + 1, g.Node.Count);
        if (g.Node[i].Input.Count == 0 || g.Node[j].Output.Count == 0) return null;
        g.Node[i].Input[random.Next(g.Node[i].Input.Count)] = g.Node[j].Output[0];
        return $"node {i} ({g.Node[i].OpType}) reads node {j}'s output '{g.Node[j].Output[0]}'";
    }

    private static string? SelfLoop(ModelProto model, Random random)
    {
        if (AnyNode(model, random) is not { Input.Count: > 0, Output.Count: > 0 } node) return null;
        node.Input[0] = node.Output[0];
        return $"{node.OpType} '{node.Name}' reads its own output";
    }

    private static string? DanglingInput(ModelProto model, Random random)
    {
        if (AnyNode(model, random) is not { Input.Count: > 0 } node) return null;
        int k = random.Next(node.Input.Count);
        node.Input[k] = "onnxquant_fuzz_missing_" + random.Next(1000);
        return $"{node.OpType} '{node.Name}' input {k} dangles";
    }

    private static string? DuplicateOutput(ModelProto model, Random random)
    {
        if (AnyGraph(model, random) is not { Node.Count: >= 2 } g) return null;
        var a = g.Node[random.Next(g.Node.Count)];
        var b = g.Node[random.Next(g.Node.Count)];
        if (ReferenceEquals(a, b) || a.Output.Count == 0 || b.Output.Count == 0) return null;
        b.Output[0] = a.Output[0];
        return $"'{a.Output[0]}' produced twice ({a.OpType}, {b.OpType})";
    }

    private static string? RemoveNode(ModelProto model, Random random)
    {
        if (AnyGraph(model, random) is not { Node.Count: > 0 } g) return null;
        int i = random.Next(g.Node.Count);
        string what = g.Node[i].OpType;
        g.Node.RemoveAt(i);
        return $"node {i} ({what}) removed";
    }

    private static string? EmptyName(ModelProto model, Random random)
    {
        if (AnyNode(model, random) is not { Output.Count: > 0 } node) return null;
        if (random.Next(2) == 0 && node.Input.Count > 0) node.Input[0] = "";
        else node.Output[0] = "";
        return $"{node.OpType} '{node.Name}' has an empty value name";
    }

    private static string? GraphOutput(ModelProto model, Random random)
    {
        if (model.Graph is not { } g) return null;
        switch (random.Next(3))
        {
            case 0:
                g.Output.Clear();
                return "no graph outputs";
            case 1:
                if (Pick(g.Output, random) is not { } output) return null;
                output.Name = "onnxquant_fuzz_nowhere";
                return "a graph output names nothing";
            default:
                if (Pick(g.Output, random) is not { } o) return null;
                g.Output.Add(o.Clone());
                return $"graph output '{o.Name}' listed twice";
        }
    }

    private static string? DuplicateInitializer(ModelProto model, Random random)
    {
        if (AnyInitializer(model, random) is not { } t || model.Graph is not { } g) return null;
        var copy = t.Clone();
        if (random.Next(2) == 0 && g.Input.Count > 0) copy.Name = g.Input[0].Name; // an initializer that shadows an input
        g.Initializer.Add(copy);
        return $"initializer '{copy.Name}' added twice";
    }

    private static string? Opset(ModelProto model, Random random)
    {
        switch (random.Next(3))
        {
            case 0:
                model.OpsetImport.Clear();
                return "no opset imports";
            case 1:
                if (Pick(model.OpsetImport, random) is not { } o) return null;
                o.Version = new long[] { 0, -3, 999, 6 }[random.Next(4)];
                return $"opset '{o.Domain}' version {o.Version}";
            default:
                model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
                return "the default domain imported twice";
        }
    }

    private static string? IrVersion(ModelProto model, Random random)
    {
        model.IrVersion = new long[] { 0, -1, 2, 3, 100, long.MaxValue }[random.Next(6)];
        return $"IR version {model.IrVersion}";
    }

    private static string? AttributeType(ModelProto model, Random random)
    {
        if (AnyNode(model, random) is not { Attribute.Count: > 0 } node) return null;
        var a = node.Attribute[random.Next(node.Attribute.Count)];
        var types = Enum.GetValues<AttributeProto.Types.AttributeType>();
        var was = a.Type;
        a.Type = types[random.Next(types.Length)];
        return $"{node.OpType}.{a.Name} type {was} → {a.Type}";
    }

    private static string? RemoveAttribute(ModelProto model, Random random)
    {
        if (AnyNode(model, random) is not { Attribute.Count: > 0 } node) return null;
        int k = random.Next(node.Attribute.Count);
        string name = node.Attribute[k].Name;
        node.Attribute.RemoveAt(k);
        return $"{node.OpType}.{name} removed";
    }

    private static string? AttributeValue(ModelProto model, Random random)
    {
        if (AnyNode(model, random) is not { Attribute.Count: > 0 } node) return null;
        var a = node.Attribute[random.Next(node.Attribute.Count)];
        long[] values = [-1, -100, 0, 1L << 40, long.MinValue, 7];
        long value = values[random.Next(values.Length)];
        switch (a.Type)
        {
            case AttributeProto.Types.AttributeType.Int: a.I = value; break;
            case AttributeProto.Types.AttributeType.Ints:
                if (a.Ints.Count == 0 || random.Next(3) == 0) a.Ints.Add(value);
                else a.Ints[random.Next(a.Ints.Count)] = value;
                break;
            case AttributeProto.Types.AttributeType.Float: a.F = random.Next(2) == 0 ? float.NaN : -1e30f; break;
            case AttributeProto.Types.AttributeType.String: a.S = ByteString.CopyFromUtf8(random.Next(2) == 0 ? "" : "NOT_A_MODE"); break;
            case AttributeProto.Types.AttributeType.Tensor when a.T is { } t: t.Dims.Add(value); break;
            default: return null;
        }
        return $"{node.OpType}.{a.Name} = {value}";
    }

    private static string? UnknownOp(ModelProto model, Random random)
    {
        if (AnyNode(model, random) is not { } node) return null;
        string was = node.OpType;
        switch (random.Next(3))
        {
            case 0: node.OpType = "OnnxQuantFuzzNoSuchOp"; break;
            case 1: node.Domain = "com.example.unknown"; break;
            default: node.OpType = ""; break;
        }
        return $"{was} → '{node.Domain}:{node.OpType}'";
    }

    private static string? Subgraph(ModelProto model, Random random)
    {
        var holders = Graphs(model).SelectMany(g => g.Node).Where(n => n.Attribute.Any(a => a.G is not null)).ToList();
        if (Pick(holders, random) is not { } node) return null;
        var a = node.Attribute.First(x => x.G is not null);
        switch (random.Next(3))
        {
            case 0:
                a.G = null;
                return $"{node.OpType}.{a.Name} lost its graph";
            case 1:
                a.G.Output.Clear();
                return $"{node.OpType}.{a.Name} body has no outputs";
            default:
                if (a.G.Node.Count == 0 || a.G.Node[0].Input.Count == 0) return null;
                a.G.Node[0].Input[0] = "onnxquant_fuzz_outer_missing";
                return $"{node.OpType}.{a.Name} body reads a missing outer value";
        }
    }

    private static string? ExternalData(ModelProto model, Random random)
    {
        var external = Graphs(model).SelectMany(g => g.Initializer).Where(t => t.DataLocation == TensorProto.Types.DataLocation.External).ToList();
        var t = Pick(external, random) ?? AnyInitializer(model, random);
        if (t is null) return null;
        if (t.DataLocation != TensorProto.Types.DataLocation.External)
        {
            // A tensor that claims external data without (good) entries.
            t.DataLocation = TensorProto.Types.DataLocation.External;
            t.RawData = ByteString.Empty;
            if (random.Next(2) == 0) t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "onnxquant_fuzz_missing.bin" });
            return $"'{t.Name}' claims external data";
        }
        void Set(string key, string value)
        {
            var entry = t.ExternalData.FirstOrDefault(e => e.Key == key);
            if (entry is null) t.ExternalData.Add(new StringStringEntryProto { Key = key, Value = value });
            else entry.Value = value;
        }
        string[] locations = ["../escape.bin", "/etc/passwd", "missing.bin", "a\0b", "", ".", "sub/../../x.bin", new string('x', 5000)];
        string[] numbers = ["-1", "18446744073709551615", "9223372036854775807", "abc", "", "1e3", "4096"];
        switch (random.Next(4))
        {
            case 0: Set("location", locations[random.Next(locations.Length)]); break;
            case 1: Set("offset", numbers[random.Next(numbers.Length)]); break;
            case 2: Set("length", numbers[random.Next(numbers.Length)]); break;
            default:
                var location = t.ExternalData.FirstOrDefault(e => e.Key == "location");
                if (location is not null) t.ExternalData.Remove(location);
                else t.ExternalData.Add(new StringStringEntryProto { Key = "unknown-key", Value = "1" });
                break;
        }
        return $"'{t.Name}' external data {string.Join(", ", t.ExternalData.Select(e => $"{e.Key}={Shorten(e.Value)}"))}";
    }

    private static string? StringTensor(ModelProto model, Random random)
    {
        if (AnyInitializer(model, random) is not { } t) return null;
        t.StringData.Add(ByteString.CopyFromUtf8("fuzz"));
        if (random.Next(2) == 0) t.DataType = (int)TensorProto.Types.DataType.String;
        return $"'{t.Name}' string data";
    }

    private static string? NodeArity(ModelProto model, Random random)
    {
        if (AnyNode(model, random) is not { } node) return null;
        switch (random.Next(3))
        {
            case 0: node.Input.Clear(); return $"{node.OpType} '{node.Name}' has no inputs";
            case 1: node.Input.Add(Enumerable.Repeat("", random.Next(1, 40))); return $"{node.OpType} '{node.Name}' gains inputs";
            default: node.Output.Add("onnxquant_fuzz_extra_output"); return $"{node.OpType} '{node.Name}' gains an output";
        }
    }

    private static string Shorten(string s) => s.Length > 24 ? s[..24] + "…" : s.Replace("\0", "\\0");
}
