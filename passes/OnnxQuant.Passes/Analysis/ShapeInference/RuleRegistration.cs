namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>Registers <paramref name="rule"/> for each op type in <paramref name="opTypes"/> of <paramref name="domain"/>.</summary>
internal delegate void RuleRegistration(string domain, ShapeRule rule, params string[] opTypes);
