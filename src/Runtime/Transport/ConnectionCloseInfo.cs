using ClusterSharing.Protocol;

namespace ClusterSharing.Transport;

/// <summary>Why a <see cref="FrameConnection"/> closed.</summary>
public enum ConnectionCloseReason
{
    /// <summary>This process closed it (<see cref="FrameConnection.CloseAsync"/>, <see cref="FrameConnection.Abort"/>, or the read loop's token).</summary>
    LocalClose,

    /// <summary>The peer closed its end cleanly between frames.</summary>
    RemoteClosed,

    /// <summary>The peer broke the protocol (see <see cref="ConnectionCloseInfo.ProtocolError"/>), or ended mid-frame.</summary>
    ProtocolViolation,

    /// <summary>More than <see cref="FrameConnectionOptions.MaxPendingSendBytes"/> were waiting for a peer that does not read.</summary>
    SendBufferOverflow,

    /// <summary>The socket failed (reset, broken pipe, ...).</summary>
    SocketError,

    /// <summary>The frame handler passed to <see cref="FrameConnection.RunAsync"/> threw something other than a <see cref="ProtocolException"/>.</summary>
    HandlerFailed,
}

/// <summary>How and why a connection closed.</summary>
/// <param name="Reason">The category.</param>
/// <param name="Message">A sentence for logs.</param>
/// <param name="Exception">The exception behind it, if any.</param>
public sealed record ConnectionCloseInfo(ConnectionCloseReason Reason, string Message, Exception? Exception = null)
{
    /// <summary>The protocol error behind a <see cref="ConnectionCloseReason.ProtocolViolation"/>, if there was one.</summary>
    public ProtocolErrorReason? ProtocolError => (Exception as ProtocolException)?.Reason;

    /// <inheritdoc/>
    public override string ToString() => ProtocolError is { } error ? $"{Reason} ({error}): {Message}" : $"{Reason}: {Message}";
}
