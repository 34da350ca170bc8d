namespace ClusterSharing.Generators.Models;

/// <summary>Everything the emitter needs for one [ClusterDelegate] interface; plain data only.</summary>
/// <param name="Namespace">The interface's namespace, empty for the global namespace.</param>
/// <param name="InterfaceType">The interface, fully qualified with <c>global::</c>.</param>
/// <param name="ContractClassName">The emitted contract class.</param>
/// <param name="ChannelName">The value of <c>ClusterContract.Name</c>.</param>
/// <param name="HintName">The generated file's hint name.</param>
/// <param name="ContainingTypes">Types the contract is nested in (outermost first) when the interface is not accessible from its namespace.</param>
/// <param name="Members">Every member, declared ones first, then inherited ones.</param>
/// <param name="Formatters">Every formatter the members need, in initialization order.</param>
internal sealed record ContractSpec(
    string Namespace,
    string InterfaceType,
    string ContractClassName,
    string ChannelName,
    string HintName,
    EquatableArray<ContainingTypeSpec> ContainingTypes,
    EquatableArray<MemberSpec> Members,
    EquatableArray<FormatterSpec> Formatters)
{
    public bool IsNested => ContainingTypes.Count > 0;
}

/// <summary>A type the contract is emitted into: its declaration keyword (<c>class</c>, <c>record struct</c>, ...) and name.</summary>
internal sealed record ContainingTypeSpec(string Keyword, string Name);

/// <summary>The outcome of parsing one interface: a spec when code can be emitted, and the diagnostics found.</summary>
internal sealed record ParseResult(ContractSpec? Contract, EquatableArray<DiagnosticInfo> Diagnostics);
