using System.Buffers;
using System.Runtime.CompilerServices;
using ClusterSharing.Serialization;
using MessagePack;

namespace ClusterSharing.Protocol;

/// <summary>
/// One received frame: the parsed header plus its header object and body as slices of the receive buffer (no copy).
/// The slices are valid only until the buffer is released, that is for the duration of the frame callback.
/// </summary>
public readonly struct Frame
{
    /// <summary>Creates a frame over already-separated parts; <see cref="FrameReader"/> is the usual source.</summary>
    /// <exception cref="ArgumentException">The lengths in <paramref name="header"/> do not match the parts.</exception>
    public Frame(FrameHeader header, ReadOnlySequence<byte> headerObject, ReadOnlySequence<byte> body, ProtocolLimits limits)
    {
        if (headerObject.Length != header.HeaderLength || body.Length != header.BodyLength)
            throw new ArgumentException("The header object and body lengths must match the frame header.", nameof(header));
        Header = header;
        HeaderObject = headerObject;
        Body = body;
        Limits = limits ?? throw new ArgumentNullException(nameof(limits));
    }

    /// <summary>The fixed header.</summary>
    public FrameHeader Header { get; }

    /// <summary>The packet type.</summary>
    public PacketType Type => Header.Type;

    /// <summary>The request id.</summary>
    public long RequestId => Header.RequestId;

    /// <summary>The flags.</summary>
    public PacketFlags Flags => Header.Flags;

    /// <summary>The header object bytes (MessagePack).</summary>
    public ReadOnlySequence<byte> HeaderObject { get; }

    /// <summary>The body bytes (MessagePack, possibly empty).</summary>
    public ReadOnlySequence<byte> Body { get; }

    /// <summary>The limits the frame was read with; used to decode its parts.</summary>
    public ProtocolLimits Limits { get; }

    /// <summary>
    /// Decodes the header object. Any decoding failure becomes a <see cref="ProtocolException"/> with
    /// <see cref="ProtocolErrorReason.MalformedHeaderObject"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException"><typeparamref name="THeader"/> is not the header of <see cref="Type"/> (a bug in the caller).</exception>
    /// <exception cref="ProtocolException">The header object is malformed.</exception>
    public THeader ReadHeader<THeader>() where THeader : struct, IPacketHeader<THeader>
    {
        if (!THeader.IsHeaderOf(Type))
            throw new InvalidOperationException($"A {Type} frame does not carry a {typeof(THeader).Name}.");
        // The invoke path's header objects are read straight from the span (a constant test per THeader); what that does not
        // recognise is validated and read by MessagePack-CSharp below, which decides.
        if (typeof(THeader) == typeof(CallHeader) && HeaderObject.IsSingleSegment
            && PacketHeaderSpans.TryRead(HeaderObject.FirstSpan, Limits.HeaderDecodingLimits, out CallHeader call))
        {
            return Unsafe.As<CallHeader, THeader>(ref call);
        }
        if (typeof(THeader) == typeof(ResultHeader) && HeaderObject.IsSingleSegment
            && PacketHeaderSpans.TryRead(HeaderObject.FirstSpan, Limits.HeaderDecodingLimits, out ResultHeader result))
        {
            return Unsafe.As<ResultHeader, THeader>(ref result);
        }
        try
        {
            var reader = WireSerializer.CreateReader(HeaderObject, Limits.HeaderDecodingLimits);
            return THeader.Read(ref reader);
        }
        catch (Exception e) when (e is not ProtocolException)
        {
            throw new ProtocolException(ProtocolErrorReason.MalformedHeaderObject, $"The {Type} header object is malformed: {e.Message}", e);
        }
    }

    /// <summary>
    /// Reads only the epoch (position 0 of every header object), whatever the packet type.
    /// </summary>
    /// <exception cref="ProtocolException">The header object does not start with an array holding an integer.</exception>
    public long ReadEpoch()
    {
        try
        {
            var reader = WireSerializer.CreateReader(HeaderObject, Limits.HeaderDecodingLimits);
            HeaderFields.ReadArray(ref reader, 1, Type.ToString());
            return reader.ReadInt64();
        }
        catch (Exception e) when (e is not ProtocolException)
        {
            throw new ProtocolException(ProtocolErrorReason.MalformedHeaderObject, $"The {Type} header object is malformed: {e.Message}", e);
        }
    }

    /// <summary>
    /// A reader over <see cref="Body"/> once it passed <see cref="ProtocolLimits.BodyDecodingLimits"/>: exactly one value,
    /// within every depth, count and length limit, valid UTF-8 in every string.
    /// </summary>
    /// <exception cref="MessagePackSerializationException">The body breaks a limit or is not MessagePack.</exception>
    public MessagePackReader CreateBodyReader() => WireSerializer.CreateReader(Body, Limits.BodyDecodingLimits);

    /// <inheritdoc/>
    public override string ToString() => Header.ToString();
}

/// <summary>Cuts complete frames off the front of a receive buffer.</summary>
public static class FrameReader
{
    /// <summary>
    /// If <paramref name="buffer"/> starts with a complete frame, returns it (as slices of the buffer) and moves
    /// <paramref name="buffer"/> past it. Returns false when more bytes are needed. The 24-byte header is validated as
    /// soon as it is available, so a bad length is rejected before its bytes are awaited or allocated.
    /// </summary>
    /// <exception cref="ProtocolException">The header is invalid or exceeds <paramref name="limits"/>.</exception>
    public static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, ProtocolLimits limits, out Frame frame)
    {
        if (!FrameHeader.TryRead(buffer, limits, out var header) || buffer.Length < header.FrameLength)
        {
            frame = default;
            return false;
        }
        long bodyStart = FrameHeader.Size + header.HeaderLength;
        frame = new Frame(header, buffer.Slice(FrameHeader.Size, header.HeaderLength), buffer.Slice(bodyStart, header.BodyLength), limits);
        buffer = buffer.Slice(bodyStart + header.BodyLength);
        return true;
    }
}
