using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using ClusterSharing.Serialization;

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
internal sealed class ObjectFormatter<T> : IMessagePackFormatter<T>
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
            try { formatter = resolver.GetBoxedFormatter(property.PropertyType); }
            catch (UnsupportedTypeException ex) { throw ex.Within(typeof(T), property.Name); }
            members[i] = new Member(property, formatter);
        }
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < members.Length; i++) index[members[i].Name] = i;
        _members = members;
        _index = index;
        ChooseConstructor();
    }

    public void Serialize(ref MessagePackWriter writer, T value)
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
            member.Formatter.Serialize(ref writer, member.Property.GetValue(boxed, BindingFlags.DoNotWrapExceptions, binder: null, index: null, culture: null));
        }
    }

    public T Deserialize(ref MessagePackReader reader)
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
        reader.EnterNested();
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
                values[member] = _members[member].Formatter.Deserialize(ref reader);
                present[member] = true;
            }
            else
            {
                reader.Skip();
            }
        }
        reader.ExitNested();
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
        ConstructorInfo? best = null;
        int[] bestMembers = [];
        foreach (var constructor in typeof(T).GetConstructors(BindingFlags.Public | BindingFlags.Instance).OrderBy(c => c.MetadataToken))
        {
            var parameters = constructor.GetParameters();
            var matched = new int[parameters.Length];
            bool matches = true;
            for (int i = 0; i < parameters.Length && matches; i++)
            {
                int found = Array.FindIndex(_members, m => string.Equals(m.Name, parameters[i].Name, StringComparison.OrdinalIgnoreCase)
                    && m.Property.PropertyType == parameters[i].ParameterType);
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
        if (best is null && !typeof(T).IsValueType)
            throw new UnsupportedTypeException(typeof(T),
                "it has no public constructor to build it with when read; add a public parameterless constructor or one whose parameters match its properties by name");
        _constructor = best;
        _constructorMembers = bestMembers;
        _defaults = _members.Select(m => DefaultOf(m.Property.PropertyType)).ToArray();
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

/// <summary>Stops a cyclic object graph before it overflows the stack while being written.</summary>
internal static class SerializationDepth
{
    /// <summary>The limit generated code uses; far deeper than any reader accepts (<see cref="MessagePackReaderOptions.MaxDepth"/> defaults to 32).</summary>
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
