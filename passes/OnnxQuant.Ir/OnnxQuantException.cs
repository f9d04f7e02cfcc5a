namespace OnnxQuant.Ir;

/// <summary>
/// An error caused by the user's input (a model, a recipe, an argument), as opposed to a bug. The command line prints
/// its message alone (no stack trace) and exits non-zero. Messages say what is wrong, where (file, node, line), and
/// how to fix it.
/// </summary>
public class OnnxQuantException : Exception
{
    public OnnxQuantException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>A model file that cannot be read: missing, corrupt, unsupported, or with unsafe external data.</summary>
public sealed class OnnxFormatException : OnnxQuantException
{
    public OnnxFormatException(string message, Exception? inner = null) : base(message, inner) { }
}
