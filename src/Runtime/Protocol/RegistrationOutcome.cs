namespace ClusterSharing.Protocol;

/// <summary>
/// The leader's answer to a <see cref="PacketType.RegisterChannel"/>. On the wire a refusal travels as
/// <see cref="RegisterChannelResultHeader.Ok"/> = false with the (negative) outcome in
/// <see cref="RegisterChannelResultHeader.ChannelId"/>; an acceptance carries the positive channel id instead.
/// </summary>
public enum RegistrationOutcome
{
    /// <summary>The channel is registered; the header's channel id addresses it on this connection.</summary>
    Accepted = 0,

    /// <summary>The leader has no channel of that name (yet).</summary>
    NotHosted = -1,

    /// <summary>The leader's contract has other methods (its fingerprint differs).</summary>
    ContractMismatch = -2,

    /// <summary>The leader's client factory threw.</summary>
    FactoryFailed = -3,

    /// <summary>The leader's client factory has not completed in time.</summary>
    NotReady = -4,
}
