using Microsoft.Extensions.Logging;

namespace ClusterSharing.Follower;

/// <summary>Follower-side log events (ids 3000-3099).</summary>
internal static partial class FollowerLog
{
    [LoggerMessage(3000, LogLevel.Warning, "Detaching channels from a closed leader connection failed")]
    public static partial void CloseCallbackFailed(ILogger logger, Exception exception);
}
