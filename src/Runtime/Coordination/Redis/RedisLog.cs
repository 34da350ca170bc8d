using Microsoft.Extensions.Logging;

namespace ClusterSharing.Coordination.Redis;

/// <summary>Redis election log events (ids 4200-4249).</summary>
internal static partial class RedisLog
{
    [LoggerMessage(4200, LogLevel.Information, "Elected leader on {Election}: epoch {Epoch}, serving on {Endpoint}, weight {Weight}")]
    public static partial void Elected(ILogger logger, string election, long epoch, string endpoint, int weight);

    [LoggerMessage(4201, LogLevel.Warning, "Leadership of epoch {Epoch} on {Election} lost: {Reason}")]
    public static partial void TermLost(ILogger logger, long epoch, string election, string reason);

    [LoggerMessage(4202, LogLevel.Information, "Resigned leadership of epoch {Epoch} on {Election}")]
    public static partial void Resigned(ILogger logger, long epoch, string election);

    [LoggerMessage(4203, LogLevel.Warning, "Could not resign epoch {Epoch} on {Election} ({Reason}); the key expires with its time to live instead")]
    public static partial void ResignFailed(ILogger logger, long epoch, string election, string reason, Exception? exception);

    [LoggerMessage(4204, LogLevel.Warning, "Redis request to {Endpoints} failed: {Reason}")]
    public static partial void RequestFailed(ILogger logger, string endpoints, string reason, Exception? exception);

    [LoggerMessage(4205, LogLevel.Debug, "Renewal of epoch {Epoch} through {Endpoints} failed: {Reason}")]
    public static partial void RenewFailed(ILogger logger, long epoch, string endpoints, string reason, Exception? exception);

    [LoggerMessage(4206, LogLevel.Information, "Handing leadership of epoch {Epoch} on {Election} over to candidate {Candidate} (weight {CandidateWeight} > {Weight})")]
    public static partial void HandingOver(ILogger logger, long epoch, string election, string candidate, int candidateWeight, int weight);

    [LoggerMessage(4207, LogLevel.Debug, "Candidate registration on {Election} failed: {Reason}")]
    public static partial void RegistrationFailed(ILogger logger, string election, string reason, Exception? exception);
}
