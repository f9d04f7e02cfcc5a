namespace OnnxQuant.Ir;

/// <summary>
/// A model-local function (ONNX <c>FunctionProto</c>): its body is a graph whose inputs and outputs are the
/// function's formal parameters (a body has no constants of its own). Nodes of the body may reference the
/// function's attributes through <see cref="Attribute.RefAttrName"/>.
/// </summary>
public sealed class Function
{
    public Function(string name, string domain, Graph body)
    {
        Name = name;
        Domain = domain;
        Body = body;
    }

    public string Name { get; set; }
    public string Domain { get; set; }
    public string? Overload { get; set; }
    public string? DocString { get; set; }
    public Graph Body { get; }

    /// <summary>Attribute parameters without defaults.</summary>
    public List<string> AttributeNames { get; } = [];

    /// <summary>Attribute parameters with default values.</summary>
    public List<Attribute> AttributeDefaults { get; } = [];

    public List<OpsetImport> OpsetImports { get; } = [];
    public List<KeyValuePair<string, string>> Metadata { get; } = [];

    public override string ToString() => $"function {Domain}.{Name}";
}
