namespace OnnxQuant.Runtime.DataSources;

/// <summary>
/// A provider whose samples may differ in size (images at their own size), read one at a time. The data source uses
/// it at batch size 1 for an input whose model dimensions are free, and checks each sample against the fixed ones.
/// </summary>
internal interface IVariableSizeSamples
{
    /// <summary>Sample <paramref name="index"/>: its bytes, its dims, and where it comes from (for messages).</summary>
    (byte[] Bytes, long[] Dims, string Origin) ReadOne(string input, int index);
}
