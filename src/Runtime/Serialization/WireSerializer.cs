using System.Buffers;
using MessagePack;
using MessagePack.Formatters;
using MessagePack.Resolvers;

namespace ClusterSharing.Serialization;

/// <summary>
/// The one place values become bytes and bytes become values: the resolver chain of a channel, the single
/// encode-to-array helper, and decoding that validates against <see cref="DecodingLimits"/> first and reports every
/// failure as a <see cref="MessagePackSerializationException"/>.
/// </summary>
internal static class WireSerializer
{
    [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;

    /// <summary>Options for contracts without their own formatters and nothing from the user (tests, headers).</summary>
    public static MessagePackSerializerOptions Standard { get; } = CreateOptions(null, null, DecodingLimits.UntrustedData);

    /// <summary>
    /// The chain every value of a channel is written and read with: the contract's generated (or dynamic) formatters,
    /// then the user's resolver (<see cref="ClusterClientOptions.SerializerOptions"/>), then MessagePack's standard
    /// resolver; <see cref="MessagePackSecurity.UntrustedData"/> with the depth of <paramref name="limits"/>.
    /// </summary>
    public static MessagePackSerializerOptions CreateOptions(IFormatterResolver? contract, MessagePackSerializerOptions? user, DecodingLimits limits)
    {
        var resolvers = new List<IFormatterResolver>(3);
        if (contract is not null) resolvers.Add(contract);
        if (user?.Resolver is { } userResolver && userResolver != StandardResolver.Instance) resolvers.Add(userResolver);
        resolvers.Add(StandardResolver.Instance);
        // Compression would change the bytes on the wire; the protocol frames values uncompressed whatever the user set.
        var baseOptions = user is null ? MessagePackSerializerOptions.Standard : user.WithCompression(MessagePackCompression.None);
        return baseOptions
            .WithResolver(CompositeResolver.Create(resolvers.ToArray()))
            .WithSecurity(MessagePackSecurity.UntrustedData.WithMaximumObjectGraphDepth(limits.MaxDepth));
    }

    /// <summary>The MessagePack encoding of <paramref name="value"/> as a new array (the only encode-to-array in the runtime).</summary>
    public static byte[] ToBytes<T>(T value, IMessagePackFormatter<T> formatter, MessagePackSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        // Borrow the thread's scratch buffer; a nested call on the same thread finds it taken and uses its own.
        var buffer = t_buffer ?? new ArrayBufferWriter<byte>(256);
        t_buffer = null;
        try
        {
            var writer = new MessagePackWriter(buffer);
            formatter.Serialize(ref writer, value, options);
            writer.Flush();
            return buffer.WrittenSpan.ToArray();
        }
        finally
        {
            buffer.ResetWrittenCount();
            if (buffer.Capacity <= 64 * 1024) t_buffer = buffer;
        }
    }

    /// <summary>
    /// A reader over <paramref name="bytes"/> once they passed <see cref="WireValidator"/>: exactly one value within
    /// <paramref name="limits"/>.
    /// </summary>
    /// <exception cref="MessagePackSerializationException">The bytes break a limit or are not MessagePack.</exception>
    public static MessagePackReader CreateReader(ReadOnlySequence<byte> bytes, DecodingLimits limits)
    {
        WireValidator.ValidateOne(bytes, limits);
        return new MessagePackReader(bytes);
    }

    /// <summary>Reads the one value of <paramref name="bytes"/>; any failure is a <see cref="MessagePackSerializationException"/>.</summary>
    public static T Decode<T>(ReadOnlyMemory<byte> bytes, IMessagePackFormatter<T> formatter, MessagePackSerializerOptions options,
        DecodingLimits? limits = null)
    {
        var reader = CreateReader(new ReadOnlySequence<byte>(bytes), limits ?? DecodingLimits.UntrustedData);
        return Read(ref reader, formatter, options);
    }

    /// <summary>
    /// Runs <paramref name="formatter"/> on <paramref name="reader"/>; what a formatter throws besides
    /// <see cref="MessagePackSerializationException"/> (an overflow, a user formatter's own exception) is wrapped in one.
    /// </summary>
    public static T Read<T>(ref MessagePackReader reader, IMessagePackFormatter<T> formatter, MessagePackSerializerOptions options)
    {
        try
        {
            return formatter.Deserialize(ref reader, options);
        }
        catch (Exception e) when (e is not MessagePackSerializationException and not OperationCanceledException)
        {
            throw Wrap(typeof(T), e);
        }
    }

    /// <summary>A decoding failure as the one exception type callers handle.</summary>
    public static MessagePackSerializationException Wrap(Type type, Exception e) =>
        new($"Deserializing {type} failed: {e.Message}", e);
}
