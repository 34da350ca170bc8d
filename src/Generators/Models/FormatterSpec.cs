namespace ClusterSharing.Generators.Models;

/// <summary>How a formatter is obtained.</summary>
internal enum FormatterKind
{
    /// <summary>
    /// Nothing generated: the rest of the resolver chain (the user's resolver, then MessagePack's standard one) supplies it.
    /// Built-in types, [MessagePackObject]/[MessagePackFormatter]/[Union] types, and classes without a usable constructor.
    /// </summary>
    BuiltIn,
    Enum,
    Nullable,
    Array,
    List,
    Dictionary,
    /// <summary>An emitted map formatter for a record, class or struct.</summary>
    Object,
}

/// <summary>One formatter field of a contract's Formatters class.</summary>
/// <param name="Field">Field name.</param>
/// <param name="ValueType">The formatted type, every reference type marked nullable.</param>
/// <param name="RuntimeType">The formatted type without nullable reference annotations, as <c>typeof</c> takes it.</param>
/// <param name="Kind">How it is built.</param>
/// <param name="Expression">Enum and the collections: the expression creating MessagePack's formatter. BuiltIn and Object: null.</param>
/// <param name="ElementType">Nullable/Array/List: the element type; Dictionary: the key type.</param>
/// <param name="Element">Nullable/Array/List: the element formatter field; Dictionary: the key formatter.</param>
/// <param name="SecondType">Dictionary: the value type.</param>
/// <param name="Second">Dictionary: the value formatter field.</param>
/// <param name="Object">Object: the members and construction.</param>
/// <param name="DirectLength">
/// BuiltIn types that <c>WireSpanWriter</c>/<c>WireSpanReader</c> handle: the most bytes a value takes, or -1 when that
/// depends on the value (string, byte[]); 0 for every other type.
/// </param>
internal sealed record FormatterSpec(
    string Field,
    string ValueType,
    string RuntimeType,
    FormatterKind Kind,
    string? Expression,
    string? ElementType,
    string? Element,
    string? SecondType,
    string? Second,
    ObjectSpec? Object,
    int DirectLength = 0);

/// <summary>A record, class or struct written as a map of its public properties.</summary>
/// <param name="ClassName">The emitted formatter class.</param>
/// <param name="Type">The type, fully qualified, without annotation.</param>
/// <param name="IsValueType">Structs are never nil.</param>
/// <param name="Members">Serialized properties in order (base class first).</param>
/// <param name="ConstructorArguments">Member indices passed to the chosen constructor, in parameter order.</param>
internal sealed record ObjectSpec(
    string ClassName,
    string Type,
    bool IsValueType,
    EquatableArray<ObjectMemberSpec> Members,
    EquatableArray<int> ConstructorArguments);

/// <summary>One serialized property.</summary>
/// <param name="Name">The property name as written (the map key).</param>
/// <param name="Identifier">The escaped identifier.</param>
/// <param name="Formatter">Formatter field.</param>
/// <param name="FormatterType">The formatter's value type.</param>
/// <param name="Settable">Has a public set or init accessor and is not a constructor argument.</param>
/// <param name="InInitializer">Init-only or required: must be assigned in the object initializer, so it is set even when its key is missing.</param>
internal sealed record ObjectMemberSpec(string Name, string Identifier, string Formatter, string FormatterType, bool Settable, bool InInitializer);
