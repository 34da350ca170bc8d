using System.Reflection;

namespace ClusterSharing.Serialization.Formatters;

/// <summary>Builds built-in formatters for types known only at run time; shared by the resolvers.</summary>
internal static class BuiltInFormatters
{
    private static readonly Dictionary<Type, object> Primitives = new()
    {
        [typeof(bool)] = BooleanFormatter.Instance,
        [typeof(byte)] = ByteFormatter.Instance,
        [typeof(sbyte)] = SByteFormatter.Instance,
        [typeof(short)] = Int16Formatter.Instance,
        [typeof(ushort)] = UInt16Formatter.Instance,
        [typeof(int)] = Int32Formatter.Instance,
        [typeof(uint)] = UInt32Formatter.Instance,
        [typeof(long)] = Int64Formatter.Instance,
        [typeof(ulong)] = UInt64Formatter.Instance,
        [typeof(float)] = SingleFormatter.Instance,
        [typeof(double)] = DoubleFormatter.Instance,
        [typeof(char)] = CharFormatter.Instance,
        [typeof(string)] = StringFormatter.Instance,
        [typeof(byte[])] = ByteArrayFormatter.Instance,
        [typeof(DateTime)] = DateTimeFormatter.Instance,
        [typeof(DateTimeOffset)] = DateTimeOffsetFormatter.Instance,
        [typeof(TimeSpan)] = TimeSpanFormatter.Instance,
        [typeof(Guid)] = GuidFormatter.Instance,
    };

    private static readonly MethodInfo GetFormatterMethod =
        typeof(IFormatterResolver).GetMethod(nameof(IFormatterResolver.GetFormatter))!;

    /// <summary>The formatter of a non-generic built-in type or an enum, or null.</summary>
    public static object? CreatePrimitive(Type type)
    {
        if (Primitives.TryGetValue(type, out var formatter)) return formatter;
        if (type.IsEnum)
            return typeof(EnumFormatter<>).MakeGenericType(type).GetField(nameof(EnumFormatter<DayOfWeek>.Instance))!.GetValue(null);
        return null;
    }

    /// <summary>
    /// The formatter of a constructed built-in type whose elements <paramref name="elements"/> resolves, or null.
    /// </summary>
    public static object? CreateConstructed(Type type, IFormatterResolver elements)
    {
        // byte[] is bin, a primitive; never an array of small integers.
        if (type.IsSZArray && type != typeof(byte[]))
        {
            var element = type.GetElementType()!;
            return Build(typeof(ArrayFormatter<>), [element], elements);
        }
        if (!type.IsGenericType) return null;
        var definition = type.GetGenericTypeDefinition();
        var arguments = type.GetGenericArguments();
        if (definition == typeof(Nullable<>)) return Build(typeof(NullableFormatter<>), arguments, elements);
        if (definition == typeof(List<>) || definition == typeof(IReadOnlyList<>) || definition == typeof(IList<>) ||
            definition == typeof(IReadOnlyCollection<>) || definition == typeof(ICollection<>) || definition == typeof(IEnumerable<>))
            return Build(typeof(ListFormatter<>), arguments, elements);
        if (definition == typeof(Dictionary<,>) || definition == typeof(IReadOnlyDictionary<,>) || definition == typeof(IDictionary<,>))
            return Build(typeof(DictionaryFormatter<,>), arguments, elements);
        return null;
    }

    private static object? Build(Type formatterDefinition, Type[] arguments, IFormatterResolver elements)
    {
        var inner = new object[arguments.Length];
        for (int i = 0; i < arguments.Length; i++)
        {
            var formatter = GetFormatterMethod.MakeGenericMethod(arguments[i]).Invoke(elements, null);
            if (formatter is null) return null;
            inner[i] = formatter;
        }
        return Activator.CreateInstance(formatterDefinition.MakeGenericType(arguments), inner);
    }
}
