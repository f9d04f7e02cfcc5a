namespace OnnxQuant.Ir;

/// <summary>One consumer of a value: <see cref="Node"/> reads it as input number <see cref="InputIndex"/>.</summary>
public readonly record struct Use(Node Node, int InputIndex);
