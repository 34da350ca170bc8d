namespace ClusterSharing.Protocol;

/// <summary>Why a frame was rejected. Stable names, used in logs and close reasons.</summary>
public enum ProtocolErrorReason
{
    /// <summary>The version byte is neither 2 (ours) nor 1 (cluster-client): the peer is not a ClusterClient.</summary>
    UnsupportedVersion,

    /// <summary>The version byte is 1: a Node.js cluster-client peer, which this release does not interoperate with yet.</summary>
    LegacyVersion,

    /// <summary>Reserved byte 0 holds a packet type this version does not define.</summary>
    UnknownPacketType,

    /// <summary>The request/response byte is not 0 or 1, or does not match the packet type.</summary>
    InvalidResponseFlag,

    /// <summary>Reserved byte 1 sets flag bits this version does not define.</summary>
    UnknownFlags,

    /// <summary>A length or timeout field is negative, or the header object is empty.</summary>
    InvalidField,

    /// <summary>The header object is longer than <see cref="ProtocolLimits.MaxHeaderSize"/>.</summary>
    HeaderObjectTooLarge,

    /// <summary>The whole frame is longer than <see cref="ProtocolLimits.MaxFrameSize"/>.</summary>
    FrameTooLarge,

    /// <summary>The header object is not the MessagePack array its packet type requires.</summary>
    MalformedHeaderObject,

    /// <summary>The connection ended in the middle of a frame.</summary>
    TruncatedFrame,

    /// <summary>A well-formed packet that is not allowed here (wrong direction, wrong state, unknown channel).</summary>
    UnexpectedPacket,
}

/// <summary>
/// A peer sent bytes that break the frame protocol. The connection that received them is closed; other
/// connections are not affected.
/// </summary>
public sealed class ProtocolException : ClusterClientException
{
    /// <summary>Creates the exception.</summary>
    public ProtocolException(ProtocolErrorReason reason, string message, Exception? inner = null)
        : base(message, inner)
    {
        Reason = reason;
    }

    /// <summary>Why the frame was rejected.</summary>
    public ProtocolErrorReason Reason { get; }
}
