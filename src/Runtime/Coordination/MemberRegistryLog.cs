using Microsoft.Extensions.Logging;

namespace ClusterSharing.Coordination;

/// <summary>Log events of the engines' member registries (membership ids 6012-6019).</summary>
internal static partial class MemberRegistryLog
{
    [LoggerMessage(6012, LogLevel.Warning, "Member registration on {Registry} failed ({Reason}); retrying")]
    public static partial void RegistrationFailed(ILogger logger, string registry, string reason, Exception? exception);

    [LoggerMessage(6013, LogLevel.Debug, "Watching the members on {Registry} failed ({Reason}); reading them again")]
    public static partial void WatchFailed(ILogger logger, string registry, string reason, Exception? exception);
}
