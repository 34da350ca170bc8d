using System.Reflection;
using System.Diagnostics.CodeAnalysis;
using ClusterSharing.Serialization;
using ClusterSharing.Serialization.Formatters;

namespace ClusterSharing.Proxies.Dynamic;

/// <summary>
/// Maps a <see cref="Type"/> to its formatter by reflection: the built-ins of <c>Serialization/Formatters</c>
/// (generic ones closed with <see cref="Type.MakeGenericType"/>) and <see cref="ObjectFormatter{T}"/> for the
/// contract's own records, classes and structs. One resolver serves one contract build; everything is resolved
/// while the contract is built, so a type without a formatter fails there, not on the first call.
/// </summary>
[RequiresDynamicCode(DynamicClusterContract.RequiresDynamicCodeMessage)]
[RequiresUnreferencedCode(DynamicClusterContract.RequiresUnreferencedCodeMessage)]
internal sealed class DynamicFormatterResolver : IFormatterResolver
{
    private readonly Dictionary<Type, object> _formatters = new();
    private readonly Dictionary<Type, IBoxedFormatter> _boxed = new();

    /// <summary>The <c>IMessagePackFormatter&lt;<paramref name="type"/>&gt;</c>.</summary>
    /// <exception cref="UnsupportedTypeException">No formatter can be built; the message says why and where.</exception>
    public object GetFormatter(Type type)
    {
        if (_formatters.TryGetValue(type, out var formatter)) return formatter;
        formatter = BuiltInFormatters.CreatePrimitive(type) ?? Create(type);
        _formatters.TryAdd(type, formatter);
        return formatter;
    }

    /// <inheritdoc/>
    IMessagePackFormatter<TValue>? IFormatterResolver.GetFormatter<TValue>() => (IMessagePackFormatter<TValue>)GetFormatter(typeof(TValue));

    /// <summary>The formatter of <paramref name="type"/> behind <see cref="IBoxedFormatter"/>.</summary>
    public IBoxedFormatter GetBoxedFormatter(Type type)
    {
        if (_boxed.TryGetValue(type, out var boxed)) return boxed;
        var formatter = GetFormatter(type);
        // Resolving a recursive type may already have boxed it.
        if (_boxed.TryGetValue(type, out boxed)) return boxed;
        boxed = (IBoxedFormatter)Activator.CreateInstance(typeof(BoxedFormatter<>).MakeGenericType(type), formatter)!;
        _boxed.Add(type, boxed);
        return boxed;
    }

    private object Create(Type type)
    {
        if (type.IsByRefLike)
            throw new UnsupportedTypeException(type, "ref structs cannot be stored; use an array or a class");
        if (type.IsByRef || type.IsPointer || type.IsFunctionPointer)
            throw new UnsupportedTypeException(type, "by-reference and pointer types cannot be sent to another process");
        if (type.ContainsGenericParameters)
            throw new UnsupportedTypeException(type, "open generic types cannot be serialized; use a concrete type");
        if (type.IsArray && !type.IsSZArray)
            throw new UnsupportedTypeException(type, "multi-dimensional arrays are not supported; use a jagged array (T[][]) or a List<T>");
        if (type.IsGenericType && type.GetGenericTypeDefinition() is var definition
            && (definition == typeof(Dictionary<,>) || definition == typeof(IReadOnlyDictionary<,>) || definition == typeof(IDictionary<,>))
            && Nullable.GetUnderlyingType(type.GetGenericArguments()[0]) is not null)
            throw new UnsupportedTypeException(type, "a dictionary key cannot be a nullable value type; use the non-nullable type");
        object? constructed;
        // The codec's own builder (arrays, lists, dictionaries, nullables); elements come back here, so user types work inside.
        try { constructed = BuiltInFormatters.CreateConstructed(type, this); }
        catch (TargetInvocationException ex) when (ex.InnerException is UnsupportedTypeException inner) { throw inner.Within(type, null); }
        if (constructed is not null) return constructed;
        RejectUnsupportedObject(type);
        var objectFormatter = (IObjectFormatter)Activator.CreateInstance(typeof(ObjectFormatter<>).MakeGenericType(type))!;
        // Registered before its members resolve, so recursive types (a Node with a Node? Next) find themselves.
        _formatters.Add(type, objectFormatter);
        try { objectFormatter.Initialize(this); }
        catch
        {
            _formatters.Remove(type);
            throw;
        }
        return objectFormatter;
    }

    private static void RejectUnsupportedObject(Type type)
    {
        if (type == typeof(object))
            throw new UnsupportedTypeException(type, "'object' has no fixed shape to serialize; use a concrete type");
        if (typeof(Delegate).IsAssignableFrom(type))
            throw new UnsupportedTypeException(type, "delegates cannot be sent to another process");
        if (type.IsInterface || type.IsAbstract)
            throw new UnsupportedTypeException(type, "interfaces and abstract classes cannot be constructed when read; use a concrete record, class or struct");
        if (type == typeof(decimal))
            throw new UnsupportedTypeException(type, "decimal has no MessagePack representation; use double, long (scaled) or string");
        if (type == typeof(IntPtr) || type == typeof(UIntPtr))
            throw new UnsupportedTypeException(type, "native-sized integers differ between processes; use long or int");
        if (type.Namespace is "System" || type.Namespace?.StartsWith("System.", StringComparison.Ordinal) == true)
            throw new UnsupportedTypeException(type, "this framework type has no ClusterClient formatter; supported are the primitives, string, byte[], DateTime, DateTimeOffset, TimeSpan, Guid, enums, Nullable<T>, arrays, List<T>/IReadOnlyList<T>/IList<T>/IEnumerable<T>, Dictionary<K,V>/IReadOnlyDictionary<K,V> and your own records, classes and structs");
    }
}

/// <summary>A type in a contract has no formatter. Carries the path from the member's type down to the offending type.</summary>
internal sealed class UnsupportedTypeException : Exception
{
    public UnsupportedTypeException(Type type, string reason)
        : base($"type '{ClusterMethodId.CanonicalTypeName(type)}' cannot be serialized: {reason}")
    {
        Path = ClusterMethodId.CanonicalTypeName(type);
    }

    private UnsupportedTypeException(string path, string message) : base(message) => Path = path;

    /// <summary>Where the offending type sits, outermost first, e.g. <c>MyNs.Order.Lines -&gt; MyNs.Line.Weight -&gt; System.Decimal</c>.</summary>
    public string Path { get; }

    /// <summary>The same problem seen from <paramref name="container"/> (through its <paramref name="member"/>, if a property).</summary>
    public UnsupportedTypeException Within(Type container, string? member)
    {
        string outer = ClusterMethodId.CanonicalTypeName(container) + (member is null ? "" : "." + member);
        return new UnsupportedTypeException(outer + " -> " + Path, Message);
    }
}
