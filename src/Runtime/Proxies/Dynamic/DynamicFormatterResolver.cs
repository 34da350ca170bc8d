using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing.Proxies.Dynamic;

/// <summary>
/// The dynamic path's counterpart of the generated resolver: every type a contract reaches is checked against the same
/// rules as the generator's while the contract is built (so a type that cannot be shared fails there, with the path to
/// it, not on the first call), and the same formatters are registered for the same types: a map formatter
/// (<see cref="ObjectFormatter{T}"/>) for each of the contract's records, classes and structs, and MessagePack-CSharp's
/// own formatters for the nullables, arrays, lists, dictionaries and enums of them. Built-in types,
/// <c>[MessagePackObject]</c> types, types with a <c>[MessagePackFormatter]</c> and types without a usable constructor
/// are left to the rest of the chain (the user's resolver, then the standard one). Written only while the contract is
/// built, read-only afterwards.
/// </summary>
[RequiresDynamicCode(DynamicClusterContract.RequiresDynamicCodeMessage)]
[RequiresUnreferencedCode(DynamicClusterContract.RequiresUnreferencedCodeMessage)]
internal sealed class DynamicFormatterResolver : IFormatterResolver
{
    private static readonly HashSet<Type> BuiltIns =
    [
        typeof(bool), typeof(byte), typeof(sbyte), typeof(short), typeof(ushort), typeof(int), typeof(uint), typeof(long), typeof(ulong),
        typeof(float), typeof(double), typeof(char), typeof(string), typeof(DateTime), typeof(DateTimeOffset), typeof(TimeSpan), typeof(Guid),
        typeof(byte[]),
    ];

    private readonly Dictionary<Type, object> _formatters = new();
    private readonly HashSet<Type> _checked = new();
    private readonly Dictionary<Type, IBoxedFormatter> _boxed = new();

    /// <inheritdoc/>
    public IMessagePackFormatter<T>? GetFormatter<T>() =>
        _formatters.TryGetValue(typeof(T), out var formatter) ? (IMessagePackFormatter<T>)formatter : null;

    /// <summary>Checks <paramref name="type"/> and returns the <c>IMessagePackFormatter&lt;<paramref name="type"/>&gt;</c> the runtime passes around.</summary>
    /// <exception cref="UnsupportedTypeException">The type cannot be shared; the message says why and where.</exception>
    public object GetFormatter(Type type)
    {
        RejectNonGenericArgument(type);
        Check(type);
        return typeof(ResolvedFormatter<>).MakeGenericType(type).GetProperty(nameof(ResolvedFormatter<int>.Instance))!.GetValue(null)!;
    }

    /// <summary>The formatter of <paramref name="type"/> behind <see cref="IBoxedFormatter"/>.</summary>
    public IBoxedFormatter GetBoxedFormatter(Type type)
    {
        if (_boxed.TryGetValue(type, out var boxed)) return boxed;
        GetFormatter(type);
        // Checking a recursive type may already have boxed it.
        if (_boxed.TryGetValue(type, out boxed)) return boxed;
        boxed = (IBoxedFormatter)Activator.CreateInstance(typeof(BoxedFormatter<>).MakeGenericType(type))!;
        _boxed.Add(type, boxed);
        return boxed;
    }

    private void Check(Type type)
    {
        if (BuiltIns.Contains(type) || !_checked.Add(type)) return;
        try
        {
            Register(type);
        }
        catch
        {
            _checked.Remove(type);
            _formatters.Remove(type);
            throw;
        }
    }

    private void Register(Type type)
    {
        if (Nullable.GetUnderlyingType(type) is { } underlying)
        {
            CheckPart(type, underlying);
            Add(type, typeof(NullableFormatter<>), underlying);
            return;
        }
        if (type.IsEnum)
        {
            Add(type, typeof(GenericEnumFormatter<>), type);
            return;
        }
        if (type.IsArray)
        {
            if (type.GetArrayRank() != 1)
                throw new UnsupportedTypeException(type, "multi-dimensional arrays are not supported; use a jagged array (T[][]) or a List<T>");
            var element = type.GetElementType()!;
            RejectNonGenericArgument(element);
            CheckPart(type, element);
            Add(type, typeof(ArrayFormatter<>), element);
            return;
        }
        if (type.IsGenericType && CollectionFormatter(type.GetGenericTypeDefinition()) is { } collection)
        {
            var arguments = type.GetGenericArguments();
            if (arguments.Length == 2 && Nullable.GetUnderlyingType(arguments[0]) is not null)
                throw new UnsupportedTypeException(type, "a dictionary key cannot be a nullable value type; use the non-nullable type");
            foreach (var argument in arguments)
            {
                RejectNonGenericArgument(argument);
                CheckPart(type, argument);
            }
            Add(type, collection, arguments);
            return;
        }
        if (HasMessagePackShape(type)) return;
        Reject(type);
        if (!ObjectFormatter<int>.HasUsableConstructor(type)) return;
        var formatter = (IObjectFormatter)Activator.CreateInstance(typeof(ObjectFormatter<>).MakeGenericType(type))!;
        // Registered before its members are checked, so recursive types (a Node with a Node? Next) find themselves.
        _formatters.Add(type, formatter);
        formatter.Initialize(this);
    }

    private void CheckPart(Type container, Type part)
    {
        try { Check(part); }
        catch (UnsupportedTypeException ex) { throw ex.From(container); }
    }

    private void Add(Type type, Type formatterDefinition, params Type[] arguments) =>
        _formatters.Add(type, Activator.CreateInstance(formatterDefinition.MakeGenericType(arguments))!);

    /// <summary>The MessagePack-CSharp formatter the generator uses for a generic collection of System.Collections.Generic.</summary>
    private static Type? CollectionFormatter(Type definition) =>
        definition == typeof(List<>) ? typeof(ListFormatter<>)
        : definition == typeof(IReadOnlyList<>) ? typeof(InterfaceReadOnlyListFormatter<>)
        : definition == typeof(IList<>) ? typeof(InterfaceListFormatter2<>)
        : definition == typeof(IReadOnlyCollection<>) ? typeof(InterfaceReadOnlyCollectionFormatter<>)
        : definition == typeof(ICollection<>) ? typeof(InterfaceCollectionFormatter2<>)
        : definition == typeof(IEnumerable<>) ? typeof(InterfaceEnumerableFormatter<>)
        : definition == typeof(Dictionary<,>) ? typeof(DictionaryFormatter<,>)
        : definition == typeof(IReadOnlyDictionary<,>) ? typeof(InterfaceReadOnlyDictionaryFormatter<,>)
        : definition == typeof(IDictionary<,>) ? typeof(InterfaceDictionaryFormatter<,>)
        : null;

    /// <summary>Types that bring their own MessagePack shape: the chain after the contract's formatters serves them.</summary>
    internal static bool HasMessagePackShape(Type type) =>
        type.IsDefined(typeof(MessagePackObjectAttribute), inherit: false)
        || type.IsDefined(typeof(MessagePackFormatterAttribute), inherit: false)
        || type.IsDefined(typeof(UnionAttribute), inherit: false);

    /// <summary>Types that cannot even be a generic argument, so no resolver can be asked about them.</summary>
    private static void RejectNonGenericArgument(Type type)
    {
        if (type.IsByRefLike)
            throw new UnsupportedTypeException(type, "ref structs cannot be stored; use an array or a class");
        if (type.ContainsGenericParameters)
            throw new UnsupportedTypeException(type, "open generic types cannot be serialized; use a concrete type");
        for (var t = type; t is not null; t = t.GetElementType())
        {
            if (t.IsByRef || t.IsPointer || t.IsFunctionPointer)
                throw new UnsupportedTypeException(type, "by-reference and pointer types cannot be sent to another process");
        }
    }

    private static void Reject(Type type)
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

    /// <summary>Checks a property's type on behalf of an <see cref="ObjectFormatter{T}"/>.</summary>
    internal void CheckMember(Type type)
    {
        RejectNonGenericArgument(type);
        Check(type);
    }
}

/// <summary>A type in a contract has no formatter. Carries the path from the member's type down to the offending type.</summary>
internal sealed class UnsupportedTypeException : Exception
{
    public UnsupportedTypeException(Type type, string reason)
        : base($"type '{ClusterMethodId.CanonicalTypeName(type)}' cannot be serialized: {reason}")
    {
        Root = type;
        Path = ClusterMethodId.CanonicalTypeName(type);
    }

    private UnsupportedTypeException(Type root, string path, string message) : base(message)
    {
        Root = root;
        Path = path;
    }

    /// <summary>Where the offending type sits, outermost first, e.g. <c>MyNs.Order.Lines -&gt; MyNs.Line.Weight -&gt; System.Decimal</c>.</summary>
    public string Path { get; }

    /// <summary>The type <see cref="Path"/> starts at.</summary>
    public Type Root { get; }

    /// <summary>The same problem seen from <paramref name="container"/> (through its <paramref name="member"/>, if a property).</summary>
    public UnsupportedTypeException Within(Type container, string? member)
    {
        string outer = ClusterMethodId.CanonicalTypeName(container) + (member is null ? "" : "." + member);
        return new UnsupportedTypeException(container, outer + " -> " + Path, Message);
    }

    /// <summary>
    /// The same problem seen from <paramref name="type"/>, which holds <see cref="Root"/> as an element or type argument at any
    /// depth: every constructed type between them joins the path (<c>Dictionary&lt;K,List&lt;Line&gt;&gt; -&gt; List&lt;Line&gt; -&gt; Line.Weight</c>).
    /// </summary>
    public UnsupportedTypeException From(Type type)
    {
        if (type == Root) return this;
        var chain = new List<Type>();
        if (!FindRoot(type, chain)) return Within(type, null);
        var result = this;
        for (int i = chain.Count - 1; i >= 0; i--) result = result.Within(chain[i], null);
        return result;
    }

    /// <summary>Collects the types from <paramref name="type"/> down to (not including) <see cref="Root"/>.</summary>
    private bool FindRoot(Type type, List<Type> chain)
    {
        if (type == Root) return true;
        Type[] parts = type.HasElementType ? [type.GetElementType()!] : type.IsGenericType ? type.GetGenericArguments() : [];
        chain.Add(type);
        foreach (var part in parts)
        {
            if (FindRoot(part, chain)) return true;
        }
        chain.RemoveAt(chain.Count - 1);
        return false;
    }
}
