using Microsoft.Extensions.Logging;

namespace ClusterSharing.Node.Membership;

/// <summary>Membership log events (ids 6000-6099).</summary>
internal static partial class MembershipLog
{
    [LoggerMessage(6000, LogLevel.Warning, "A membership event handler or channel message handler threw (channel {Channel})")]
    public static partial void HandlerFailed(ILogger logger, string? channel, Exception exception);

    [LoggerMessage(6001, LogLevel.Debug, "Member {Id} re-attached on {New} (was {Old})")]
    public static partial void MemberMoved(ILogger logger, string id, string old, string @new);

    [LoggerMessage(6002, LogLevel.Information, "Member {Id} of the previous leader's view did not re-attach within the rejoin grace; removed")]
    public static partial void MemberNotBack(ILogger logger, string id);

    [LoggerMessage(6003, LogLevel.Warning, "More than {Limit} membership messages and events wait for this process's handlers; message on channel {Channel} dropped")]
    public static partial void MessageDropped(ILogger logger, int limit, string channel);

    [LoggerMessage(6005, LogLevel.Information, "Port {Port}: handing leadership over to member {Id} (weight {Weight}, this process {OwnWeight})")]
    public static partial void HandingOver(ILogger logger, int port, string id, int weight, int ownWeight);

    [LoggerMessage(6004, LogLevel.Information, "Member {Id} joined (port {Port})")]
    public static partial void Joined(ILogger logger, string id, int port);

    [LoggerMessage(6010, LogLevel.Warning, "The engine's registry holds a member record for {Id} that cannot be read ({Problem}); ignored")]
    public static partial void BadRegistration(ILogger logger, string id, string problem);

    [LoggerMessage(6011, LogLevel.Information, "Member {Id} of the previous leader's view is no longer registered in the engine; removed without waiting for the rejoin grace")]
    public static partial void MemberUnregistered(ILogger logger, string id);
}
