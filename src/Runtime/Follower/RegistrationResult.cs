using ClusterSharing.Protocol;

namespace ClusterSharing.Follower;

/// <summary>The leader's answer to a channel registration: the channel id when accepted, the leader's sentence when refused.</summary>
internal readonly record struct RegistrationResult(RegistrationOutcome Outcome, int ChannelId, string? Error)
{
    public static RegistrationResult From(in RegisterChannelResultHeader header) =>
        header.Ok ? new(RegistrationOutcome.Accepted, header.ChannelId, null) : new(header.Outcome, 0, header.Error);
}
