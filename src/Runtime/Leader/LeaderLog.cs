using Microsoft.Extensions.Logging;

namespace ClusterSharing.Leader;

/// <summary>Leader-side log events (ids 2000-2099).</summary>
internal static partial class LeaderLog
{
    [LoggerMessage(2000, LogLevel.Information, "Real client of channel '{Channel}' created")]
    public static partial void ClientCreated(ILogger logger, string channel);

    [LoggerMessage(2001, LogLevel.Warning, "Client factory of channel '{Channel}' failed; retrying in {DelayMs} ms")]
    public static partial void FactoryFailed(ILogger logger, string channel, double delayMs, Exception exception);

    [LoggerMessage(2002, LogLevel.Warning, "Disposing the real client of channel '{Channel}' failed")]
    public static partial void ClientDisposeFailed(ILogger logger, string channel, Exception exception);

    [LoggerMessage(2003, LogLevel.Information, "Follower {Follower} connected")]
    public static partial void FollowerConnected(ILogger logger, string follower);

    [LoggerMessage(2004, LogLevel.Information, "Follower {Follower} disconnected: {Reason}")]
    public static partial void FollowerDisconnected(ILogger logger, string follower, string reason);

    [LoggerMessage(2005, LogLevel.Information, "Follower {Follower} registered channel '{Channel}' as id {ChannelId}")]
    public static partial void ChannelRegistered(ILogger logger, string follower, string channel, int channelId);

    [LoggerMessage(2006, LogLevel.Warning, "Follower {Follower} could not register channel '{Channel}': {Error}")]
    public static partial void ChannelRefused(ILogger logger, string follower, string channel, string error);

    [LoggerMessage(2007, LogLevel.Warning, "Follower {Follower} is silent for {SilentMs} ms; evicting it")]
    public static partial void FollowerEvicted(ILogger logger, string follower, double silentMs);

    [LoggerMessage(2008, LogLevel.Debug, "Call {RequestId} to '{Method}' from follower {Follower} failed")]
    public static partial void CallFailed(ILogger logger, long requestId, string method, string follower, Exception exception);

    [LoggerMessage(2009, LogLevel.Warning, "Accepting a follower connection failed")]
    public static partial void AcceptFailed(ILogger logger, Exception exception);

    [LoggerMessage(2010, LogLevel.Warning, "A real subscription of channel '{Channel}' failed")]
    public static partial void SubscriptionFailed(ILogger logger, string channel, Exception exception);

    [LoggerMessage(2020, LogLevel.Debug, "Channel '{Channel}': '{Method}' has no paired unsubscribe member; the real listener stays subscribed, idle, with its last value cached")]
    public static partial void SubscriptionKept(ILogger logger, string channel, string method);

    [LoggerMessage(2011, LogLevel.Warning, "Connection {Follower} rejected: {Reason}")]
    public static partial void ConnectionRejected(ILogger logger, string follower, string reason);

    [LoggerMessage(2012, LogLevel.Warning, "Follower {Follower} hit a limit: {Reason}")]
    public static partial void LimitReached(ILogger logger, string follower, string reason);

    [LoggerMessage(2013, LogLevel.Warning, "{Count} more rejected connections or limit hits were not logged (at most 20 warnings per {WindowSeconds} s)")]
    public static partial void RejectionsSuppressed(ILogger logger, int count, double windowSeconds);

    [LoggerMessage(2015, LogLevel.Warning, "The UDP pulse port {Port} is taken by another socket; followers will judge this leader by TCP heartbeats alone (and may answer pulses from whoever holds it)")]
    public static partial void PulsePortTaken(ILogger logger, int port);

    [LoggerMessage(2014, LogLevel.Debug, "Connection {Follower} closed before it authenticated or registered: {Reason}")]
    public static partial void UnadmittedClosed(ILogger logger, string follower, string reason);

    [LoggerMessage(4008, LogLevel.Warning, "A call to {Method} from follower {Follower} arrived after this leader's term ended; it was refused, not run, and the connection is closed")]
    public static partial void DeposedCallRefused(ILogger logger, string follower, string method);

    [LoggerMessage(4005, LogLevel.Warning, "Follower {Follower} failed authentication: {Reason}")]
    public static partial void AuthenticationFailed(ILogger logger, string follower, string reason);

    [LoggerMessage(4006, LogLevel.Debug, "Follower {Follower} authenticated")]
    public static partial void Authenticated(ILogger logger, string follower);
}
