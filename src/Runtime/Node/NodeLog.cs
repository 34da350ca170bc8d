using Microsoft.Extensions.Logging;

namespace ClusterSharing.Node;

/// <summary>Node lifecycle log events (ids 1000-1099).</summary>
internal static partial class NodeLog
{
    [LoggerMessage(1000, LogLevel.Information, "Port {Port}: this process leads (epoch {Epoch})")]
    public static partial void BecameLeader(ILogger logger, int port, long epoch);

    [LoggerMessage(1001, LogLevel.Information, "Port {Port}: following the leader (epoch {Epoch})")]
    public static partial void BecameFollower(ILogger logger, int port, long epoch);

    [LoggerMessage(1002, LogLevel.Warning, "Port {Port}: leader lost ({Reason}); electing a new one")]
    public static partial void LeaderLost(ILogger logger, int port, string reason);

    [LoggerMessage(1003, LogLevel.Debug, "Port {Port}: no leader yet: {Status}")]
    public static partial void Waiting(ILogger logger, int port, string status);

    [LoggerMessage(1004, LogLevel.Warning, "A oneway call to '{Method}' was dropped")]
    public static partial void OnewayFailed(ILogger logger, string method, Exception exception);

    [LoggerMessage(1005, LogLevel.Warning, "A LeaderChanged handler threw")]
    public static partial void HandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(1006, LogLevel.Information, "Port {Port}: node closed")]
    public static partial void Closed(ILogger logger, int port);

    [LoggerMessage(1007, LogLevel.Warning, "Port {Port}: the election loop failed; retrying")]
    public static partial void ElectionFailed(ILogger logger, int port, Exception exception);

    [LoggerMessage(1008, LogLevel.Warning, "Channel '{Channel}': a subscription listener threw")]
    public static partial void ListenerFailed(ILogger logger, string channel, Exception exception);

    [LoggerMessage(1020, LogLevel.Warning, "Channel '{Channel}': subscription listeners fell {Dropped} values behind (SubscriptionBufferSize {Limit}); dropping them and resynchronising")]
    public static partial void SubscriptionOverflow(ILogger logger, string channel, int dropped, int limit);

    [LoggerMessage(1021, LogLevel.Debug, "Channel '{Channel}': more than {Max} distinct live publications; the oldest is no longer replayed after a failover")]
    public static partial void PublicationForgotten(ILogger logger, string channel, int max);

    [LoggerMessage(1030, LogLevel.Error, "Leader work '{Name}' failed; {Next}")]
    public static partial void LeaderWorkFailed(ILogger logger, string name, string next, Exception exception);

    [LoggerMessage(1031, LogLevel.Warning, "Leader work '{Name}' still runs {GraceSeconds} s after leadership ended (its token was cancelled); no new run starts until it returns")]
    public static partial void LeaderWorkIgnoresCancellation(ILogger logger, string name, double graceSeconds);

    [LoggerMessage(1032, LogLevel.Information, "Leader work '{Name}' started (epoch {Epoch})")]
    public static partial void LeaderWorkStarted(ILogger logger, string name, long epoch);

    [LoggerMessage(1033, LogLevel.Debug, "Leader work '{Name}' ended ({How})")]
    public static partial void LeaderWorkStopped(ILogger logger, string name, string how);
}
