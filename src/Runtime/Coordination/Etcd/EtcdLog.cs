using Microsoft.Extensions.Logging;

namespace ClusterSharing.Coordination.Etcd;

/// <summary>etcd election log events (ids 4100-4199).</summary>
internal static partial class EtcdLog
{
    [LoggerMessage(4100, LogLevel.Information, "Elected leader on {Election}: epoch {Epoch}, serving on {Endpoint}, lease {Lease:x}")]
    public static partial void Elected(ILogger logger, string election, long epoch, string endpoint, long lease);

    [LoggerMessage(4101, LogLevel.Warning, "Leadership of epoch {Epoch} on {Election} lost: {Reason}")]
    public static partial void TermLost(ILogger logger, long epoch, string election, string reason);

    [LoggerMessage(4102, LogLevel.Information, "Resigned leadership of epoch {Epoch} on {Election}")]
    public static partial void Resigned(ILogger logger, long epoch, string election);

    [LoggerMessage(4103, LogLevel.Warning, "Could not resign epoch {Epoch} on {Election} ({Reason}); the key expires with its lease instead")]
    public static partial void ResignFailed(ILogger logger, long epoch, string election, string reason, Exception? exception);

    [LoggerMessage(4104, LogLevel.Warning, "etcd request to {Endpoint} failed: {Reason}")]
    public static partial void RequestFailed(ILogger logger, string endpoint, string reason, Exception? exception);

    [LoggerMessage(4105, LogLevel.Debug, "Lease keep-alive of epoch {Epoch} through {Endpoint} failed: {Reason}")]
    public static partial void KeepAliveFailed(ILogger logger, long epoch, string endpoint, string reason, Exception? exception);

    // 4110-4129: the stages of a failover, at Debug, so a slow one can be taken apart (the harness's etcd row does).

    [LoggerMessage(4110, LogLevel.Debug, "Resigning epoch {Epoch} on {Election}: revoking lease {Lease:x}")]
    public static partial void Resigning(ILogger logger, long epoch, string election, long lease);

    [LoggerMessage(4111, LogLevel.Debug, "The leader key of {Election} was deleted at revision {Revision}; campaigning at once")]
    public static partial void LeaderKeyDeleted(ILogger logger, string election, long revision);

    [LoggerMessage(4112, LogLevel.Debug, "Campaigning on {Election} with lease {Lease:x}, granted {LeaseAgeMs} ms ago")]
    public static partial void Campaigning(ILogger logger, string election, long lease, long leaseAgeMs);

    [LoggerMessage(4113, LogLevel.Debug, "Campaign on {Election} lost to epoch {Epoch}; following it")]
    public static partial void CampaignLost(ILogger logger, string election, long epoch);

    [LoggerMessage(4114, LogLevel.Debug, "Following the leader of epoch {Epoch} on {Election} at {Endpoint}")]
    public static partial void Following(ILogger logger, long epoch, string election, string endpoint);
}
