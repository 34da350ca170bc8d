using MessagePack;

namespace ClusterSharing.Protocol;

/// <summary>
/// A header object: a MessagePack array with fixed positions whose first element is always the sender's leader
/// epoch. Readers accept extra trailing elements (skipped) so later versions can append fields.
/// </summary>
/// <typeparam name="TSelf">The implementing struct.</typeparam>
public interface IPacketHeader<TSelf> where TSelf : struct, IPacketHeader<TSelf>
{
    /// <summary>The leader epoch the sender believes in (position 0 of every header object).</summary>
    long Epoch { get; }

    /// <summary>True when frames of <paramref name="type"/> carry this header object.</summary>
    static abstract bool IsHeaderOf(PacketType type);

    /// <summary>Writes the header object.</summary>
    void Write(ref MessagePackWriter writer);

    /// <summary>Reads the header object.</summary>
    /// <exception cref="ProtocolException">A field is missing or out of range.</exception>
    /// <exception cref="MessagePackSerializationException">The bytes are not valid MessagePack of the expected shape.</exception>
    static abstract TSelf Read(ref MessagePackReader reader);
}

/// <summary>Shared field handling of header objects.</summary>
internal static class HeaderFields
{
    /// <summary>Reads the array header and checks that at least <paramref name="required"/> fields are present.</summary>
    public static int ReadArray(ref MessagePackReader reader, int required, string name)
    {
        int count = reader.ReadArrayHeader();
        if (count < required)
            throw new ProtocolException(ProtocolErrorReason.MalformedHeaderObject,
                $"A {name} header object has {count} fields; it needs at least {required}.");
        return count;
    }

    /// <summary>Skips fields appended by a later protocol revision.</summary>
    public static void SkipExtra(ref MessagePackReader reader, int count, int read)
    {
        for (int i = read; i < count; i++) reader.Skip();
    }

    /// <summary>A string field, or null when the field is nil or of another type (then skipped).</summary>
    public static string? ReadOptionalString(ref MessagePackReader reader)
    {
        if (reader.NextMessagePackType == MessagePackType.String) return reader.ReadString();
        reader.Skip();
        return null;
    }

    /// <summary>
    /// Two optional trailing fields, traceparent and tracestate. Trace context is advisory: anything but a well-formed
    /// traceparent (55 characters) and a tracestate of at most 512 characters (the W3C limits) counts as absent, never
    /// as a malformed packet.
    /// </summary>
    public static (string? TraceParent, string? TraceState) ReadTraceContext(ref MessagePackReader reader)
    {
        string? traceParent = ReadOptionalString(ref reader);
        string? traceState = ReadOptionalString(ref reader);
        return traceParent is { Length: 55 } ? (traceParent, traceState is { Length: <= 512 } ? traceState : null) : (null, null);
    }

    public static string ReadRequiredString(ref MessagePackReader reader, string header, string field) =>
        reader.ReadString() ?? throw new ProtocolException(ProtocolErrorReason.MalformedHeaderObject,
            $"The {field} field of a {header} header object is nil; a string is required.");

    public static TEnum ReadEnum<TEnum>(ref MessagePackReader reader, byte max, string header, string field) where TEnum : struct, Enum
    {
        byte value = reader.ReadByte();
        if (value > max)
            throw new ProtocolException(ProtocolErrorReason.MalformedHeaderObject,
                $"The {field} field of a {header} header object is {value}; the largest defined value is {max}.");
        return System.Runtime.CompilerServices.Unsafe.As<byte, TEnum>(ref value);
    }
}
