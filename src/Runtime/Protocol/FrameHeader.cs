using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace ClusterSharing.Protocol;

/// <summary>
/// The fixed 24-byte frame header, big-endian:
/// <c>version(1) response(1) type(1) flags(1) requestId(8) timeoutMs(4) headerLength(4) bodyLength(4)</c>.
/// cluster-client (version 1) keeps bytes 2 and 3 reserved as zero; version 2 puts the packet type and flags there.
/// </summary>
public readonly struct FrameHeader : IEquatable<FrameHeader>
{
    /// <summary>Length of the fixed header in bytes.</summary>
    public const int Size = 24;

    /// <summary>The protocol version this library speaks.</summary>
    public const byte CurrentVersion = 2;

    /// <summary>The version byte of Node.js cluster-client peers.</summary>
    public const byte LegacyVersion = 1;

    /// <summary>Creates a version 2 header; the response flag follows from <paramref name="type"/>.</summary>
    public FrameHeader(PacketType type, long requestId, int timeoutMilliseconds, int headerLength, int bodyLength, PacketFlags flags = PacketFlags.None)
    {
        Version = CurrentVersion;
        Type = type;
        Flags = flags;
        RequestId = requestId;
        TimeoutMilliseconds = timeoutMilliseconds;
        HeaderLength = headerLength;
        BodyLength = bodyLength;
    }

    /// <summary>Protocol version (byte 0).</summary>
    public byte Version { get; }

    /// <summary>The packet type (byte 2).</summary>
    public PacketType Type { get; }

    /// <summary>Flags (byte 3).</summary>
    public PacketFlags Flags { get; }

    /// <summary>True when this frame answers a request (byte 1); always <see cref="PacketTypes.IsResponse"/> of <see cref="Type"/>.</summary>
    public bool IsResponse => PacketTypes.IsResponse(Type);

    /// <summary>Matches a response to its request, or names the call a <see cref="PacketType.Cancel"/> cancels (bytes 4–11).</summary>
    public long RequestId { get; }

    /// <summary>The caller's timeout in milliseconds, 0 for none (bytes 12–15).</summary>
    public int TimeoutMilliseconds { get; }

    /// <summary>Length of the header object (bytes 16–19).</summary>
    public int HeaderLength { get; }

    /// <summary>Length of the body (bytes 20–23).</summary>
    public int BodyLength { get; }

    /// <summary>The whole frame's length: header, header object and body.</summary>
    public long FrameLength => (long)Size + HeaderLength + BodyLength;

    /// <summary>Writes the 24 bytes to <paramref name="destination"/>.</summary>
    public void Write(Span<byte> destination)
    {
        if (destination.Length < Size) throw new ArgumentException("The destination must hold at least 24 bytes.", nameof(destination));
        destination[0] = Version;
        destination[1] = IsResponse ? (byte)1 : (byte)0;
        destination[2] = (byte)Type;
        destination[3] = (byte)Flags;
        BinaryPrimitives.WriteInt64BigEndian(destination.Slice(4), RequestId);
        BinaryPrimitives.WriteInt32BigEndian(destination.Slice(12), TimeoutMilliseconds);
        BinaryPrimitives.WriteInt32BigEndian(destination.Slice(16), HeaderLength);
        BinaryPrimitives.WriteInt32BigEndian(destination.Slice(20), BodyLength);
    }

    /// <summary>
    /// Parses and validates the first 24 bytes of <paramref name="source"/> against <paramref name="limits"/>.
    /// </summary>
    /// <exception cref="ArgumentException">Fewer than 24 bytes were given.</exception>
    /// <exception cref="ProtocolException">The header is not a valid version 2 header within the limits.</exception>
    public static FrameHeader Parse(ReadOnlySpan<byte> source, ProtocolLimits limits)
    {
        if (source.Length < Size) throw new ArgumentException("A frame header needs 24 bytes.", nameof(source));
        ArgumentNullException.ThrowIfNull(limits);
        var header = new FrameHeader(source[0], (PacketType)source[2], (PacketFlags)source[3],
            BinaryPrimitives.ReadInt64BigEndian(source.Slice(4)), BinaryPrimitives.ReadInt32BigEndian(source.Slice(12)),
            BinaryPrimitives.ReadInt32BigEndian(source.Slice(16)), BinaryPrimitives.ReadInt32BigEndian(source.Slice(20)));
        byte responseByte = source[1];
        // One combined test on the hot path; the slow path works out which rule was broken.
        if (header.Version != CurrentVersion || !PacketTypes.IsDefined(header.Type)
            || responseByte != (PacketTypes.IsResponse(header.Type) ? 1 : 0) || (header.Flags & ~PacketTypes.KnownFlags) != 0
            || header.TimeoutMilliseconds < 0 || header.HeaderLength < 1 || header.BodyLength < 0
            || header.HeaderLength > limits.MaxHeaderSize || header.FrameLength > limits.MaxFrameSize)
        {
            throw Invalid(header, responseByte, limits);
        }
        return header;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ProtocolException Invalid(FrameHeader header, byte responseByte, ProtocolLimits limits)
    {
        byte version = header.Version;
        var type = header.Type;
        if (version == LegacyVersion)
            return new ProtocolException(ProtocolErrorReason.LegacyVersion,
                "The peer speaks cluster-client protocol version 1 (JSON header objects): cluster-client v1 peers are not supported yet. Run a ClusterClient for .NET process as the leader, or use a different port for Node.js workers.");
        if (version != CurrentVersion)
            return new ProtocolException(ProtocolErrorReason.UnsupportedVersion,
                $"Frame version {version} (first byte 0x{version:x2}) is not supported; this endpoint speaks ClusterClient protocol version {CurrentVersion}. Check that no other program is connected to the cluster port.");
        if (!PacketTypes.IsDefined(type))
            return new ProtocolException(ProtocolErrorReason.UnknownPacketType,
                $"Packet type {(byte)type} is not defined in protocol version {CurrentVersion}.");
        if (responseByte != (PacketTypes.IsResponse(type) ? 1 : 0))
            return new ProtocolException(ProtocolErrorReason.InvalidResponseFlag,
                $"The request/response byte is {responseByte} but a {type} packet must carry {(PacketTypes.IsResponse(type) ? 1 : 0)}.");
        if ((header.Flags & ~PacketTypes.KnownFlags) != 0)
            return new ProtocolException(ProtocolErrorReason.UnknownFlags,
                $"Flag bits 0x{(byte)header.Flags:x2} include bits protocol version {CurrentVersion} does not define.");
        if (header.TimeoutMilliseconds < 0)
            return new ProtocolException(ProtocolErrorReason.InvalidField, $"The timeout field is negative ({header.TimeoutMilliseconds} ms).");
        if (header.HeaderLength < 1)
            return new ProtocolException(ProtocolErrorReason.InvalidField,
                $"The header object length is {header.HeaderLength}; every version 2 packet has a header object of at least one byte.");
        if (header.BodyLength < 0)
            return new ProtocolException(ProtocolErrorReason.InvalidField, $"The body length is negative ({header.BodyLength}).");
        if (header.HeaderLength > limits.MaxHeaderSize)
            return new ProtocolException(ProtocolErrorReason.HeaderObjectTooLarge,
                $"A {type} header object of {header.HeaderLength} bytes exceeds MaxHeaderSize ({limits.MaxHeaderSize} bytes).");
        return new ProtocolException(ProtocolErrorReason.FrameTooLarge,
            $"A {type} frame of {header.FrameLength} bytes exceeds MaxFrameSize ({limits.MaxFrameSize} bytes). Raise ClusterClientOptions.MaxFrameSize on every process if such payloads are intended.");
    }

    /// <summary>
    /// Parses the header at the start of <paramref name="source"/> if 24 bytes are there; false when fewer are.
    /// </summary>
    /// <exception cref="ProtocolException">The header is not a valid version 2 header within the limits.</exception>
    public static bool TryRead(in ReadOnlySequence<byte> source, ProtocolLimits limits, out FrameHeader header)
    {
        if (source.Length < Size)
        {
            header = default;
            return false;
        }
        var first = source.FirstSpan;
        if (first.Length >= Size)
        {
            header = Parse(first, limits);
            return true;
        }
        Span<byte> bytes = stackalloc byte[Size];
        source.Slice(0, Size).CopyTo(bytes);
        header = Parse(bytes, limits);
        return true;
    }

    private FrameHeader(byte version, PacketType type, PacketFlags flags, long requestId, int timeout, int headerLength, int bodyLength)
    {
        Version = version;
        Type = type;
        Flags = flags;
        RequestId = requestId;
        TimeoutMilliseconds = timeout;
        HeaderLength = headerLength;
        BodyLength = bodyLength;
    }

    /// <inheritdoc/>
    public bool Equals(FrameHeader other) => Version == other.Version && Type == other.Type && Flags == other.Flags
        && RequestId == other.RequestId && TimeoutMilliseconds == other.TimeoutMilliseconds
        && HeaderLength == other.HeaderLength && BodyLength == other.BodyLength;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is FrameHeader other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Type, Flags, RequestId, TimeoutMilliseconds, HeaderLength, BodyLength);

    /// <summary>Compares two headers field by field.</summary>
    public static bool operator ==(FrameHeader left, FrameHeader right) => left.Equals(right);

    /// <summary>Compares two headers field by field.</summary>
    public static bool operator !=(FrameHeader left, FrameHeader right) => !left.Equals(right);

    /// <inheritdoc/>
    public override string ToString() =>
        $"v{Version} {Type} id={RequestId} timeout={TimeoutMilliseconds}ms header={HeaderLength}B body={BodyLength}B flags={Flags}";
}
