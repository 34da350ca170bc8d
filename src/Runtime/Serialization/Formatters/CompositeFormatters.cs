namespace ClusterSharing.Serialization.Formatters;

/// <summary>Enums as their underlying integer value.</summary>
public sealed class EnumFormatter<T> : IMessagePackFormatter<T> where T : struct, Enum
{
    /// <summary>The shared instance.</summary>
    public static readonly EnumFormatter<T> Instance = new();

    /// <inheritdoc/>
    public void Serialize(ref MessagePackWriter writer, T value)
    {
        if (IsUnsigned) writer.Write(System.Runtime.CompilerServices.Unsafe.SizeOf<T>() switch
        {
            1 => System.Runtime.CompilerServices.Unsafe.As<T, byte>(ref value),
            2 => System.Runtime.CompilerServices.Unsafe.As<T, ushort>(ref value),
            4 => System.Runtime.CompilerServices.Unsafe.As<T, uint>(ref value),
            _ => System.Runtime.CompilerServices.Unsafe.As<T, ulong>(ref value),
        });
        else writer.Write(System.Runtime.CompilerServices.Unsafe.SizeOf<T>() switch
        {
            1 => System.Runtime.CompilerServices.Unsafe.As<T, sbyte>(ref value),
            2 => System.Runtime.CompilerServices.Unsafe.As<T, short>(ref value),
            4 => System.Runtime.CompilerServices.Unsafe.As<T, int>(ref value),
            _ => System.Runtime.CompilerServices.Unsafe.As<T, long>(ref value),
        });
    }

    /// <inheritdoc/>
    public T Deserialize(ref MessagePackReader reader)
    {
        T result = default;
        switch (System.Runtime.CompilerServices.Unsafe.SizeOf<T>())
        {
            case 1: if (IsUnsigned) { byte v = reader.ReadByte(); result = System.Runtime.CompilerServices.Unsafe.As<byte, T>(ref v); } else { sbyte v = reader.ReadSByte(); result = System.Runtime.CompilerServices.Unsafe.As<sbyte, T>(ref v); } break;
            case 2: if (IsUnsigned) { ushort v = reader.ReadUInt16(); result = System.Runtime.CompilerServices.Unsafe.As<ushort, T>(ref v); } else { short v = reader.ReadInt16(); result = System.Runtime.CompilerServices.Unsafe.As<short, T>(ref v); } break;
            case 4: if (IsUnsigned) { uint v = reader.ReadUInt32(); result = System.Runtime.CompilerServices.Unsafe.As<uint, T>(ref v); } else { int v = reader.ReadInt32(); result = System.Runtime.CompilerServices.Unsafe.As<int, T>(ref v); } break;
            default: if (IsUnsigned) { ulong v = reader.ReadUInt64(); result = System.Runtime.CompilerServices.Unsafe.As<ulong, T>(ref v); } else { long v = reader.ReadInt64(); result = System.Runtime.CompilerServices.Unsafe.As<long, T>(ref v); } break;
        }
        return result;
    }

    private static readonly bool IsUnsigned = Type.GetTypeCode(typeof(T)) is TypeCode.Byte or TypeCode.UInt16 or TypeCode.UInt32 or TypeCode.UInt64;
}

/// <summary>Nullable value types: nil or the value.</summary>
public sealed class NullableFormatter<T>(IMessagePackFormatter<T> inner) : IMessagePackFormatter<T?> where T : struct
{
    /// <inheritdoc/>
    public void Serialize(ref MessagePackWriter writer, T? value)
    {
        if (value is { } v) inner.Serialize(ref writer, v);
        else writer.WriteNil();
    }

    /// <inheritdoc/>
    public T? Deserialize(ref MessagePackReader reader) => reader.TryReadNil() ? null : inner.Deserialize(ref reader);
}

/// <summary>Arrays as MessagePack arrays; null as nil.</summary>
public sealed class ArrayFormatter<T>(IMessagePackFormatter<T> element) : IMessagePackFormatter<T[]?>
{
    /// <inheritdoc/>
    public void Serialize(ref MessagePackWriter writer, T[]? value)
    {
        if (value is null) { writer.WriteNil(); return; }
        writer.WriteArrayHeader(value.Length);
        foreach (var item in value) element.Serialize(ref writer, item);
    }

    /// <inheritdoc/>
    public T[]? Deserialize(ref MessagePackReader reader)
    {
        if (reader.TryReadNil()) return null;
        int count = reader.ReadArrayHeader();
        if (count == 0) return [];
        reader.EnterNested();
        var result = new T[count];
        for (int i = 0; i < count; i++) result[i] = element.Deserialize(ref reader);
        reader.ExitNested();
        return result;
    }
}

/// <summary><see cref="List{T}"/> (and the read-only list and collection interfaces) as MessagePack arrays; null as nil.</summary>
public sealed class ListFormatter<T>(IMessagePackFormatter<T> element) :
    IMessagePackFormatter<List<T>?>, IMessagePackFormatter<IReadOnlyList<T>?>, IMessagePackFormatter<IList<T>?>,
    IMessagePackFormatter<IReadOnlyCollection<T>?>, IMessagePackFormatter<ICollection<T>?>, IMessagePackFormatter<IEnumerable<T>?>
{
    /// <inheritdoc/>
    public void Serialize(ref MessagePackWriter writer, List<T>? value)
    {
        if (value is null) { writer.WriteNil(); return; }
        writer.WriteArrayHeader(value.Count);
        foreach (var item in value) element.Serialize(ref writer, item);
    }

    /// <inheritdoc/>
    public List<T>? Deserialize(ref MessagePackReader reader)
    {
        if (reader.TryReadNil()) return null;
        int count = reader.ReadArrayHeader();
        reader.EnterNested();
        var result = new List<T>(count);
        for (int i = 0; i < count; i++) result.Add(element.Deserialize(ref reader));
        reader.ExitNested();
        return result;
    }

    private void SerializeEnumerable(ref MessagePackWriter writer, IEnumerable<T>? value)
    {
        if (value is null) { writer.WriteNil(); return; }
        if (value is List<T> list) { Serialize(ref writer, list); return; }
        if (value is T[] array) { writer.WriteArrayHeader(array.Length); foreach (var item in array) element.Serialize(ref writer, item); return; }
        var materialized = value as IReadOnlyCollection<T> ?? value.ToList();
        writer.WriteArrayHeader(materialized.Count);
        foreach (var item in materialized) element.Serialize(ref writer, item);
    }

    void IMessagePackFormatter<IReadOnlyList<T>?>.Serialize(ref MessagePackWriter writer, IReadOnlyList<T>? value) => SerializeEnumerable(ref writer, value);
    IReadOnlyList<T>? IMessagePackFormatter<IReadOnlyList<T>?>.Deserialize(ref MessagePackReader reader) => Deserialize(ref reader);
    void IMessagePackFormatter<IList<T>?>.Serialize(ref MessagePackWriter writer, IList<T>? value) => SerializeEnumerable(ref writer, value);
    IList<T>? IMessagePackFormatter<IList<T>?>.Deserialize(ref MessagePackReader reader) => Deserialize(ref reader);
    void IMessagePackFormatter<IReadOnlyCollection<T>?>.Serialize(ref MessagePackWriter writer, IReadOnlyCollection<T>? value) => SerializeEnumerable(ref writer, value);
    IReadOnlyCollection<T>? IMessagePackFormatter<IReadOnlyCollection<T>?>.Deserialize(ref MessagePackReader reader) => Deserialize(ref reader);
    void IMessagePackFormatter<ICollection<T>?>.Serialize(ref MessagePackWriter writer, ICollection<T>? value) => SerializeEnumerable(ref writer, value);
    ICollection<T>? IMessagePackFormatter<ICollection<T>?>.Deserialize(ref MessagePackReader reader) => Deserialize(ref reader);
    void IMessagePackFormatter<IEnumerable<T>?>.Serialize(ref MessagePackWriter writer, IEnumerable<T>? value) => SerializeEnumerable(ref writer, value);
    IEnumerable<T>? IMessagePackFormatter<IEnumerable<T>?>.Deserialize(ref MessagePackReader reader) => Deserialize(ref reader);
}

/// <summary><see cref="Dictionary{TKey, TValue}"/> (and the read-only and mutable dictionary interfaces) as MessagePack maps; null as nil.</summary>
public sealed class DictionaryFormatter<TKey, TValue>(IMessagePackFormatter<TKey> key, IMessagePackFormatter<TValue> value) :
    IMessagePackFormatter<Dictionary<TKey, TValue>?>, IMessagePackFormatter<IReadOnlyDictionary<TKey, TValue>?>, IMessagePackFormatter<IDictionary<TKey, TValue>?>
    where TKey : notnull
{
    /// <inheritdoc/>
    public void Serialize(ref MessagePackWriter writer, Dictionary<TKey, TValue>? map) => SerializePairs(ref writer, map, map?.Count ?? 0);

    private void SerializePairs(ref MessagePackWriter writer, IEnumerable<KeyValuePair<TKey, TValue>>? map, int count)
    {
        if (map is null) { writer.WriteNil(); return; }
        writer.WriteMapHeader(count);
        foreach (var pair in map)
        {
            key.Serialize(ref writer, pair.Key);
            value.Serialize(ref writer, pair.Value);
        }
    }

    /// <inheritdoc/>
    public Dictionary<TKey, TValue>? Deserialize(ref MessagePackReader reader)
    {
        if (reader.TryReadNil()) return null;
        int count = reader.ReadMapHeader();
        reader.EnterNested();
        var result = new Dictionary<TKey, TValue>(count);
        for (int i = 0; i < count; i++)
        {
            var k = key.Deserialize(ref reader);
            if (k is null) throw new MessagePackSerializationException("A dictionary key is nil.");
            result[k] = value.Deserialize(ref reader);
        }
        reader.ExitNested();
        return result;
    }

    void IMessagePackFormatter<IReadOnlyDictionary<TKey, TValue>?>.Serialize(ref MessagePackWriter writer, IReadOnlyDictionary<TKey, TValue>? map) => SerializePairs(ref writer, map, map?.Count ?? 0);
    IReadOnlyDictionary<TKey, TValue>? IMessagePackFormatter<IReadOnlyDictionary<TKey, TValue>?>.Deserialize(ref MessagePackReader reader) => Deserialize(ref reader);
    void IMessagePackFormatter<IDictionary<TKey, TValue>?>.Serialize(ref MessagePackWriter writer, IDictionary<TKey, TValue>? map) => SerializePairs(ref writer, map, map?.Count ?? 0);
    IDictionary<TKey, TValue>? IMessagePackFormatter<IDictionary<TKey, TValue>?>.Deserialize(ref MessagePackReader reader) => Deserialize(ref reader);
}
