using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using MessagePack;
using MessagePack.Formatters;

namespace ClusterSharing.Proxies.Dynamic;

/// <summary>
/// A record, class or struct of a contract as a MessagePack map keyed by property name: public instance properties
/// with a public getter, in declaration order, base-class members first. Reading accepts keys in any order, skips
/// unknown keys and reads missing members as their type's default; the object is built through the public constructor
/// whose parameters all match properties (case-insensitively, same type), the one with the most parameters; then
/// init-only and required properties are assigned, and plain setters for the keys that were present (as generated code does).
/// </summary>
[RequiresDynamicCode(DynamicClusterContract.RequiresDynamicCodeMessage)]
[RequiresUnreferencedCode(DynamicClusterContract.RequiresUnreferencedCodeMessage)]
internal sealed class ObjectFormatter<T> : IMessagePackFormatter<T>, IObjectFormatter
{
    private Member[] _members = [];
    private Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private ConstructorInfo? _constructor;
    private int[] _constructorMembers = [];
    private object?[] _defaults = [];

    /// <summary>Resolves the members' formatters; called after the resolver cached this formatter, so recursive types find it.</summary>
    public void Initialize(DynamicFormatterResolver resolver)
    {
        var properties = ReadableProperties(typeof(T));
        var members = new Member[properties.Count];
        for (int i = 0; i < members.Length; i++)
        {
            var property = properties[i];
            IBoxedFormatter formatter;
            try
            {
                resolver.CheckMember(property.PropertyType);
                formatter = resolver.GetBoxedFormatter(property.PropertyType);
            }
            catch (UnsupportedTypeException ex) { throw ex.Within(typeof(T), property.Name); }
            members[i] = new Member(property, formatter);
        }
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < members.Length; i++) index[members[i].Name] = i;
        _members = members;
        _index = index;
        ChooseConstructor();
    }

    public void Serialize(ref MessagePackWriter writer, T value, MessagePackSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNil();
            return;
        }
        object boxed = value;
        using var depth = SerializationDepth.Enter(typeof(T));
        writer.WriteMapHeader(_members.Length);
        foreach (var member in _members)
        {
            writer.Write(member.Name);
            member.Formatter.Serialize(ref writer, member.Property.GetValue(boxed, BindingFlags.DoNotWrapExceptions, binder: null, index: null, culture: null), options);
        }
    }

    public T Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        if (reader.TryReadNil())
        {
            if (typeof(T).IsValueType)
                throw new MessagePackSerializationException($"Nil is not a valid {ClusterMethodId.CanonicalTypeName(typeof(T))} (a struct).");
            return default!;
        }
        int count = reader.ReadMapHeader();
        var values = new object?[_members.Length];
        var present = new bool[_members.Length];
        options.Security.DepthStep(ref reader);
        for (int i = 0; i < count; i++)
        {
            if (reader.NextMessagePackType != MessagePackType.String)
            {
                reader.Skip();
                reader.Skip();
                continue;
            }
            string? key = reader.ReadString();
            if (key is not null && _index.TryGetValue(key, out int member))
            {
                values[member] = _members[member].Formatter.Deserialize(ref reader, options);
                present[member] = true;
            }
            else
            {
                reader.Skip();
            }
        }
        reader.Depth--;
        return Construct(values, present);
    }

    private T Construct(object?[] values, bool[] present)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!present[i]) values[i] = _defaults[i];
        }
        object instance;
        var usedByConstructor = new bool[_members.Length];
        if (_constructor is not null)
        {
            var arguments = new object?[_constructorMembers.Length];
            for (int i = 0; i < arguments.Length; i++)
            {
                int member = _constructorMembers[i];
                arguments[i] = values[member];
                usedByConstructor[member] = true;
            }
            instance = _constructor.Invoke(BindingFlags.DoNotWrapExceptions, binder: null, arguments, culture: null);
        }
        else
        {
            // Only structs get here (classes without a usable constructor are rejected when the contract is built).
            instance = Activator.CreateInstance(typeof(T))!;
        }
        // As generated code does: init-only and required members belong in the object initializer, so they are assigned even
        // when missing (their default); plain setters only for keys that were present, so a property initializer survives.
        for (int i = 0; i < _members.Length; i++)
        {
            var member = _members[i];
            if (!usedByConstructor[i] && member.Settable && (present[i] || member.InInitializer))
                _members[i].Property.SetValue(instance, values[i], BindingFlags.DoNotWrapExceptions, binder: null, index: null, culture: null);
        }
        return (T)instance;
    }

    private void ChooseConstructor()
    {
        var (best, bestMembers) = FindConstructor(typeof(T), _members.Select(m => m.Property).ToList());
        if (best is null && !typeof(T).IsValueType)
            throw new UnsupportedTypeException(typeof(T),
                "it has no public constructor to build it with when read; add a public parameterless constructor or one whose parameters match its properties by name");
        _constructor = best;
        _constructorMembers = bestMembers;
        _defaults = _members.Select(m => DefaultOf(m.Property.PropertyType)).ToArray();
    }

    /// <summary>
    /// True when <paramref name="type"/> can be built from its properties (a struct, or a class with a public constructor
    /// whose parameters all match properties); a class that cannot is left to a user's formatter.
    /// </summary>
    public static bool HasUsableConstructor(Type type) => type.IsValueType || FindConstructor(type, ReadableProperties(type)).Constructor is not null;

    /// <summary>The public constructor with the most parameters that all match distinct properties (case-insensitively, same type).</summary>
    private static (ConstructorInfo? Constructor, int[] Members) FindConstructor(Type type, List<PropertyInfo> properties)
    {
        ConstructorInfo? best = null;
        int[] bestMembers = [];
        foreach (var constructor in type.GetConstructors(BindingFlags.Public | BindingFlags.Instance).OrderBy(c => c.MetadataToken))
        {
            var parameters = constructor.GetParameters();
            var matched = new int[parameters.Length];
            bool matches = true;
            for (int i = 0; i < parameters.Length && matches; i++)
            {
                int found = properties.FindIndex(p => string.Equals(p.Name, parameters[i].Name, StringComparison.OrdinalIgnoreCase)
                    && p.PropertyType == parameters[i].ParameterType);
                matched[i] = found;
                // Each property feeds at most one parameter.
                matches = found >= 0 && Array.IndexOf(matched, found, 0, i) < 0;
            }
            if (matches && (best is null || parameters.Length > bestMembers.Length))
            {
                best = constructor;
                bestMembers = matched;
            }
        }
        return (best, bestMembers);
    }

    private static object? DefaultOf(Type type) => type.IsValueType ? Activator.CreateInstance(type) : null;

    /// <summary>Public instance properties with a public getter, base class first, each class in declaration order.</summary>
    internal static List<PropertyInfo> ReadableProperties(Type type)
    {
        var chain = new List<Type>();
        for (var t = type; t is not null && t != typeof(object) && t != typeof(ValueType); t = t.BaseType) chain.Add(t);
        chain.Reverse();
        var result = new List<PropertyInfo>();
        foreach (var level in chain)
        {
            var declared = level.GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
                .Where(p => p.GetIndexParameters().Length == 0 && p.GetMethod is { IsPublic: true })
                .OrderBy(p => p.MetadataToken);
            foreach (var property in declared)
            {
                // An override or a 'new' property keeps the position of the one it replaces.
                int existing = result.FindIndex(p => p.Name == property.Name);
                if (existing >= 0) result[existing] = property;
                else result.Add(property);
            }
        }
        return result;
    }

    private sealed class Member(PropertyInfo property, IBoxedFormatter formatter)
    {
        public string Name { get; } = property.Name;
        public PropertyInfo Property { get; } = property;
        public IBoxedFormatter Formatter { get; } = formatter;
        public bool Settable { get; } = property.SetMethod is { IsPublic: true };
        public bool InInitializer { get; } = property.SetMethod is { IsPublic: true } setter
            && (setter.ReturnParameter.GetRequiredCustomModifiers().Contains(typeof(System.Runtime.CompilerServices.IsExternalInit))
                || property.IsDefined(typeof(System.Runtime.CompilerServices.RequiredMemberAttribute), inherit: false));
    }
}

/// <summary>An <see cref="ObjectFormatter{T}"/> seen without its type argument, so the resolver can initialize it.</summary>
internal interface IObjectFormatter
{
    /// <summary>Checks the members' types; called after the resolver registered this formatter, so recursive types find it.</summary>
    void Initialize(DynamicFormatterResolver resolver);
}

/// <summary>Stops a cyclic object graph before it overflows the stack while being written.</summary>
internal static class SerializationDepth
{
    /// <summary>The limit generated code uses; far deeper than any reader accepts (<see cref="ClusterSharing.Serialization.DecodingLimits.MaxDepth"/> defaults to 32).</summary>
    private const int Limit = 256;

    [ThreadStatic] private static int t_depth;

    public static Scope Enter(Type type)
    {
        if (t_depth >= Limit)
            throw new MessagePackSerializationException($"Objects nest deeper than {Limit} levels at {ClusterMethodId.CanonicalTypeName(type)}; the object graph is probably cyclic.");
        t_depth++;
        return default;
    }

    public readonly struct Scope : IDisposable
    {
        public void Dispose() => t_depth--;
    }
}
