namespace OnnxQuant.Runtime.Calibration;

/// <summary>Whether calibration runs the model whole or one block at a time (<see cref="Blocks.BlockwiseCollector"/>).</summary>
public enum BlockWiseMode
{
    /// <summary>One ONNX Runtime session over the whole model.</summary>
    Off,

    /// <summary>One session per block, whatever the model's size.</summary>
    On,

    /// <summary>Block-wise when the model's weights exceed <see cref="CollectorOptions.BlockWiseAboveBytes"/>.</summary>
    Auto,
}
