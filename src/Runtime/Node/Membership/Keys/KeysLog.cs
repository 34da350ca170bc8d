using Microsoft.Extensions.Logging;

namespace ClusterSharing.Node.Membership.Keys;

/// <summary>Leadership-per-key log events (ids 7000-7099).</summary>
internal static partial class KeysLog
{
    [LoggerMessage(7000, LogLevel.Debug, "Key {Key}: this member owns it (epoch {Epoch})")]
    public static partial void Acquired(ILogger logger, string key, long epoch);

    [LoggerMessage(7001, LogLevel.Debug, "Key {Key}: this member stopped owning it (epoch {Epoch}, {Reason})")]
    public static partial void Released(ILogger logger, string key, long epoch, ClusterSharing.KeyReleaseReason reason);

    [LoggerMessage(7002, LogLevel.Warning, "Key {Key}: work under epoch {Epoch} still runs {GraceMs} ms after its token fired; the key is handed over anyway")]
    public static partial void GraceExceeded(ILogger logger, string key, long epoch, double graceMs);

    [LoggerMessage(7003, LogLevel.Information, "Member {Id} has not renewed its key lease for {SilentMs} ms; its {Count} keys move")]
    public static partial void OwnerLapsed(ILogger logger, string id, double silentMs, int count);

    [LoggerMessage(7004, LogLevel.Warning, "A KeyAcquired or KeyReleased handler threw")]
    public static partial void HandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(7006, LogLevel.Debug, "Key {Key}: owner {Owner} is asked to let go (next owner {Next})")]
    public static partial void Revoking(ILogger logger, string key, string owner, string? next);

    [LoggerMessage(7007, LogLevel.Debug, "Members that may own keys now: {Members}")]
    public static partial void LiveChanged(ILogger logger, string members);

    [LoggerMessage(7005, LogLevel.Debug, "New key coordinator (epoch {Epoch}): no key is granted for {FenceMs} ms, until every lease of the previous leader expired")]
    public static partial void Fenced(ILogger logger, long epoch, double fenceMs);
}
