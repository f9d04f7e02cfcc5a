namespace OnnxQuant.Ir.Verification;

/// <summary>Which IR invariant a <see cref="VerifierIssue"/> reports as broken.</summary>
public enum VerifierIssueKind
{
    /// <summary>A node's <see cref="Node.Graph"/> is not the graph whose node list holds it.</summary>
    NodeGraphMismatch,

    /// <summary>A graph's node list is inconsistent: broken links, a wrong node count, or a node listed twice.</summary>
    NodeListCorrupt,

    /// <summary>A subgraph's <see cref="Graph.OwnerNode"/> is not the node whose attribute holds it, or a graph is held twice.</summary>
    SubgraphOwnerMismatch,

    /// <summary>A node output does not name that node and slot as its producer, or a graph input has a producer.</summary>
    ProducerMismatch,

    /// <summary>One value is defined more than once (two producers, or input, constant and output at once).</summary>
    MultipleDefinitions,

    /// <summary>A value's <see cref="Value.Graph"/> is not the graph that defines it.</summary>
    ValueGraphMismatch,

    /// <summary>A node reads a value that does not list that node and input slot among its uses.</summary>
    MissingUse,

    /// <summary>A value lists a use whose node slot does not hold it, or lists the same use twice.</summary>
    StaleUse,

    /// <summary>A value lists a use by a node that is in no graph of the model.</summary>
    UseByDetachedNode,

    /// <summary>A value defined in a graph has no name.</summary>
    MissingName,

    /// <summary>Two values of a graph and its subgraphs share a name.</summary>
    DuplicateName,

    /// <summary>A node reads a value defined after it (in its graph, or after the node owning its subgraph).</summary>
    NotInTopologicalOrder,

    /// <summary>A node or graph output refers to a value of a graph that is not its own or an enclosing one.</summary>
    OuterReferenceUnresolved,

    /// <summary>A node reads a value that no graph of the model defines (e.g. the output of a removed node).</summary>
    UndefinedValue,

    /// <summary>A graph output is a value that neither the graph nor an enclosing graph defines.</summary>
    GraphOutputUndefined,

    /// <summary>A constant value has a producer.</summary>
    ConstantHasProducer,

    /// <summary>A value in a graph's constants carries no tensor.</summary>
    ConstantWithoutTensor,

    /// <summary>A value carrying a tensor is defined without being listed among its graph's constants.</summary>
    ConstantNotListed,
}
