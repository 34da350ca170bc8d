using Microsoft.Extensions.Logging;

namespace ClusterSharing.Coordination.Local;

/// <summary>Local election log events (ids 4000-4099).</summary>
internal static partial class ElectionLog
{
    [LoggerMessage(4000, LogLevel.Warning, "The leader lease {Path} cannot be used ({Reason}); electing by the port alone, so a hung leader will not be replaced")]
    public static partial void LeaseUnusable(ILogger logger, string path, string reason, Exception? exception);

    [LoggerMessage(4001, LogLevel.Warning, "Port {Port}: took over the leader lease from {Previous} (it stopped renewing or its endpoint is gone); now epoch {Epoch}")]
    public static partial void LeaseTakenOver(ILogger logger, int port, string previous, long epoch);

    [LoggerMessage(4002, LogLevel.Warning, "Port {Port}: this process was deposed (lease now {Current}, ours was epoch {Epoch}); stepping down")]
    public static partial void Deposed(ILogger logger, int port, string current, long epoch);

    [LoggerMessage(4003, LogLevel.Warning, "Port {Port}: the primary endpoint {Endpoint} is held by the deposed leader (pid {Pid}); listening on {Alternate} instead")]
    public static partial void AlternateEndpoint(ILogger logger, int port, string endpoint, int pid, string alternate);

    [LoggerMessage(4004, LogLevel.Information, "Removed the stale socket file {Path} (nothing accepts connections on it)")]
    public static partial void StaleSocketRemoved(ILogger logger, string path);

    [LoggerMessage(4007, LogLevel.Warning, "The socket path {Path} is taken by something this process will not delete: {What}; remove it or choose another SocketPath")]
    public static partial void SocketPathOccupied(ILogger logger, string path, string what);
}
