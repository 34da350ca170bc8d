using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using ClusterSharing.Serialization;

namespace ClusterSharing.Proxies.Dynamic;

/// <summary>
/// Maps a <see cref="Type"/> to its formatter for the dynamic path: a <see cref="CompositeResolver"/> of the generator's
/// extra rule on dictionary keys, <see cref="StandardResolver"/> (every built-in, with elements resolved through the
/// composite) and <see cref="ObjectFormatter{T}"/> for the contract's own records, classes and structs. One resolver serves
/// one contract build; everything is resolved while the contract is built, so a type without a formatter fails there, with
/// the path to it, not on the first call.
/// </summary>
[RequiresDynamicCode(DynamicClusterContract.RequiresDynamicCodeMessage)]
[RequiresUnreferencedCode(DynamicClusterContract.RequiresUnreferencedCodeMessage)]
internal sealed class DynamicFormatterResolver
{
    private static readonly MethodInfo GetFormatterMethod = typeof(IFormatterResolver).GetMethod(nameof(IFormatterResolver.GetFormatter))!;

    private readonly CompositeResolver _resolver;
    private readonly Dictionary<Type, IBoxedFormatter> _boxed = new();

    public DynamicFormatterResolver() =>
        _resolver = new CompositeResolver(new DictionaryKeyRule(), StandardResolver.Instance, new ObjectFormatters(this));

    /// <summary>The <c>IMessagePackFormatter&lt;<paramref name="type"/>&gt;</c>.</summary>
    /// <exception cref="UnsupportedTypeException">No formatter can be built; the message says why and where.</exception>
    public object GetFormatter(Type type)
    {
        RejectNonGenericArgument(type);
        try
        {
            return GetFormatterMethod.MakeGenericMethod(type).Invoke(_resolver, BindingFlags.DoNotWrapExceptions, binder: null, parameters: null, culture: null)
                // Unreachable while ObjectFormatters comes last (it builds or throws); kept so a null never escapes.
                ?? throw new UnsupportedTypeException(type, "no formatter resolves it");
        }
        catch (UnsupportedTypeException ex)
        {
            throw ex.From(type);
        }
        catch (TargetInvocationException ex) when (Unwrap(ex) is UnsupportedTypeException inner)
        {
            // Built-in collections resolve their elements by reflection, which wraps what an element's resolver throws.
            throw inner.From(type);
        }
    }

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

    private static Exception Unwrap(TargetInvocationException ex)
    {
        Exception inner = ex;
        while (inner is TargetInvocationException { InnerException: { } next }) inner = next;
        return inner;
    }

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

    /// <summary>The standard resolver accepts nullable dictionary keys; the generator refuses them, and so does this path.</summary>
    private sealed class DictionaryKeyRule : IFormatterResolver
    {
        public IMessagePackFormatter<T>? GetFormatter<T>()
        {
            var type = typeof(T);
            if (type.IsGenericType && type.GetGenericTypeDefinition() is var definition
                && (definition == typeof(Dictionary<,>) || definition == typeof(IReadOnlyDictionary<,>) || definition == typeof(IDictionary<,>))
                && Nullable.GetUnderlyingType(type.GetGenericArguments()[0]) is not null)
                throw new UnsupportedTypeException(type, "a dictionary key cannot be a nullable value type; use the non-nullable type");
            return null;
        }
    }

    /// <summary>Asked last: everything the standard resolver does not know is an object of the contract, or refused.</summary>
    [RequiresDynamicCode(DynamicClusterContract.RequiresDynamicCodeMessage)]
    [RequiresUnreferencedCode(DynamicClusterContract.RequiresUnreferencedCodeMessage)]
    private sealed class ObjectFormatters(DynamicFormatterResolver owner) : IFormatterResolver
    {
        private readonly Dictionary<Type, object> _formatters = new();

        public IMessagePackFormatter<T>? GetFormatter<T>()
        {
            if (_formatters.TryGetValue(typeof(T), out var known)) return (IMessagePackFormatter<T>)known;
            Reject(typeof(T));
            var formatter = new ObjectFormatter<T>();
            // Registered before its members resolve, so recursive types (a Node with a Node? Next) find themselves.
            _formatters.Add(typeof(T), formatter);
            try { formatter.Initialize(owner); }
            catch
            {
                _formatters.Remove(typeof(T));
                throw;
            }
            return formatter;
        }

        private static void Reject(Type type)
        {
            if (type.IsArray)
                throw new UnsupportedTypeException(type, "multi-dimensional arrays are not supported; use a jagged array (T[][]) or a List<T>");
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
