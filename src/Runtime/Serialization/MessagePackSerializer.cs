using System.Buffers;

namespace ClusterSharing.Serialization;

/// <summary>One-call serialization of a value with a formatter or a resolver.</summary>
public static class MessagePackSerializer
{
    [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;

    /// <summary>Writes <paramref name="value"/> to <paramref name="output"/> (flushed on return).</summary>
    public static void Serialize<T>(IBufferWriter<byte> output, T value, IMessagePackFormatter<T> formatter)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(formatter);
        var writer = new MessagePackWriter(output);
        formatter.Serialize(ref writer, value);
        writer.Flush();
    }

    /// <summary>Writes <paramref name="value"/> to <paramref name="output"/> with the formatter <paramref name="resolver"/> finds.</summary>
    public static void Serialize<T>(IBufferWriter<byte> output, T value, IFormatterResolver resolver) =>
        Serialize(output, value, resolver.GetRequiredFormatter<T>());

    /// <summary>Returns the MessagePack encoding of <paramref name="value"/> as a new array.</summary>
    public static byte[] Serialize<T>(T value, IMessagePackFormatter<T> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        // Borrow the thread's scratch buffer; a nested call on the same thread (a formatter serializing
        // something itself) finds it taken and uses its own.
        var buffer = t_buffer ?? new ArrayBufferWriter<byte>(256);
        t_buffer = null;
        try
        {
            Serialize(buffer, value, formatter);
            return buffer.WrittenSpan.ToArray();
        }
        finally
        {
            buffer.ResetWrittenCount();
            if (buffer.Capacity <= 64 * 1024) t_buffer = buffer;
        }
    }

    /// <summary>Returns the MessagePack encoding of <paramref name="value"/> with the formatter <paramref name="resolver"/> finds.</summary>
    public static byte[] Serialize<T>(T value, IFormatterResolver resolver) => Serialize(value, resolver.GetRequiredFormatter<T>());

    /// <summary>
    /// Reads one value that must span all of <paramref name="bytes"/>. Malformed, truncated or over-limit input and
    /// trailing bytes throw <see cref="MessagePackSerializationException"/>; so does any other failure of the formatter.
    /// </summary>
    public static T Deserialize<T>(ReadOnlySequence<byte> bytes, IMessagePackFormatter<T> formatter, MessagePackReaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        var reader = new MessagePackReader(bytes, options);
        T value;
        try
        {
            value = formatter.Deserialize(ref reader);
        }
        catch (Exception e) when (e is not MessagePackSerializationException and not OperationCanceledException)
        {
            throw new MessagePackSerializationException($"Deserializing {typeof(T)} failed: {e.Message}", e);
        }
        if (!reader.End)
            throw new MessagePackSerializationException($"{reader.Remaining} bytes follow the {typeof(T)} value; expected exactly one value.");
        return value;
    }

    /// <summary>Reads one value that must span all of <paramref name="bytes"/>; see the sequence overload.</summary>
    public static T Deserialize<T>(ReadOnlyMemory<byte> bytes, IMessagePackFormatter<T> formatter, MessagePackReaderOptions? options = null) =>
        Deserialize(new ReadOnlySequence<byte>(bytes), formatter, options);

    /// <summary>Reads one value with the formatter <paramref name="resolver"/> finds; see the sequence overload.</summary>
    public static T Deserialize<T>(ReadOnlySequence<byte> bytes, IFormatterResolver resolver, MessagePackReaderOptions? options = null) =>
        Deserialize(bytes, resolver.GetRequiredFormatter<T>(), options);
}
