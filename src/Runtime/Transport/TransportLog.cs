using Microsoft.Extensions.Logging;

namespace ClusterSharing.Transport;

/// <summary>Log events of the transport (ids 1100–1199).</summary>
internal static partial class TransportLog
{
    [LoggerMessage(EventId = 1101, Level = LogLevel.Debug, Message = "Connection {Connection} closed: {Reason}")]
    public static partial void Closed(ILogger logger, string connection, ConnectionCloseInfo reason);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "Connection {Connection} closed after a protocol violation: {Reason}")]
    public static partial void ProtocolViolation(ILogger logger, string connection, ConnectionCloseInfo reason, Exception? exception);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "Connection {Connection} closed: {Reason}")]
    public static partial void ClosedAbnormally(ILogger logger, string connection, ConnectionCloseInfo reason, Exception? exception);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Warning, Message = "Connection {Connection} refused a frame: {PendingBytes} bytes are waiting for the peer (limit {Limit})")]
    public static partial void FrameRejected(ILogger logger, string connection, long pendingBytes, long limit);
}
