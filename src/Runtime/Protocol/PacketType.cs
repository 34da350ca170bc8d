namespace ClusterSharing.Protocol;

/// <summary>
/// What a frame carries. In protocol version 2 the type travels in reserved byte 0 of the frame header, so a reader
/// dispatches without decoding the header object. Values are stable on the wire; never renumber them.
/// </summary>
public enum PacketType : byte
{
    /// <summary>Follower → leader: attach a channel (one contract) to this connection. Header: <see cref="RegisterChannelHeader"/>.</summary>
    RegisterChannel = 1,

    /// <summary>Leader → follower: answer to <see cref="RegisterChannel"/>. Header: <see cref="RegisterChannelResultHeader"/>.</summary>
    RegisterChannelResult = 2,

    /// <summary>Follower → leader: request/response call. Header: <see cref="CallHeader"/>; body: the argument array.</summary>
    Invoke = 3,

    /// <summary>Leader → follower: completion of an <see cref="Invoke"/>. Header: <see cref="ResultHeader"/>; body: the value or a <see cref="RemoteError"/> map.</summary>
    InvokeResult = 4,

    /// <summary>Follower → leader: fire-and-forget call. Header: <see cref="CallHeader"/>; body: the argument array.</summary>
    Oneway = 5,

    /// <summary>Follower → leader: cancel the invoke whose request id this frame carries. Header: <see cref="EpochHeader"/>.</summary>
    Cancel = 6,

    /// <summary>Follower → leader: start a subscription. Header: <see cref="SubscriptionHeader"/>; body: the registration.</summary>
    Subscribe = 7,

    /// <summary>Follower → leader: stop a subscription. Header: <see cref="SubscriptionHeader"/>; body: the registration.</summary>
    Unsubscribe = 8,

    /// <summary>Leader → follower: a value (or the end) of a subscription. Header: <see cref="SubscribeResultHeader"/>; body: the value.</summary>
    SubscribeResult = 9,

    /// <summary>Follower → leader: acknowledges the <see cref="SubscribeResult"/> with the same request id. Header: <see cref="EpochHeader"/>.</summary>
    SubscribeResultAck = 10,

    /// <summary>Follower → leader: a publication. Header: <see cref="CallHeader"/>; body: the argument array.</summary>
    Publish = 11,

    /// <summary>Either way: liveness probe. Header: <see cref="HeartbeatHeader"/>.</summary>
    Heartbeat = 12,

    /// <summary>Answer to a <see cref="Heartbeat"/>, echoing its send time. Header: <see cref="HeartbeatHeader"/>.</summary>
    HeartbeatResponse = 13,

    /// <summary>Either way: the sender is about to close the connection on purpose. Header: <see cref="GoodbyeHeader"/>.</summary>
    Goodbye = 14,

    /// <summary>Leader → follower: shared-secret challenge (a nonce). Header: <see cref="AuthHeader"/>.</summary>
    AuthChallenge = 15,

    /// <summary>Follower → leader: the proof for an <see cref="AuthChallenge"/>. Header: <see cref="AuthHeader"/>.</summary>
    AuthResponse = 16,

    /// <summary>
    /// Inspector → leader, after authentication: asks for the leader's view of the cluster (the <c>cluster-client status</c>
    /// tool). Header: <see cref="EpochHeader"/>. Before authentication it closes the connection like any other packet.
    /// </summary>
    Inspect = 17,

    /// <summary>Leader → inspector: answer to <see cref="Inspect"/>. Header: <see cref="EpochHeader"/>; body: the report (<c>InspectReport</c>).</summary>
    InspectResult = 18,

    /// <summary>
    /// Follower → leader: this process joins the member view, or updates its entry (weight, eligibility, advertisement).
    /// Header: <see cref="MemberAnnounceHeader"/>; body: the member record.
    /// </summary>
    MemberAnnounce = 19,

    /// <summary>Leader → follower: the member view (a snapshot) or a change to it. Header: <see cref="MemberViewHeader"/>; body: records or ids.</summary>
    MemberView = 20,

    /// <summary>Follower → leader: this member joined or left a message channel. Header: <see cref="MemberChannelHeader"/>.</summary>
    MemberChannel = 21,

    /// <summary>Either way: a channel or direct message, relayed by the leader. Header: <see cref="MemberMessageHeader"/>; body: the message.</summary>
    MemberMessage = 22,

    /// <summary>Either way: what became of a direct message, relayed back to its sender. Header: <see cref="MemberMessageAckHeader"/>.</summary>
    MemberMessageAck = 23,

    /// <summary>Follower → leader: the keys this member holds (the whole set, or what was added and removed). Header: <see cref="KeysHeader"/>; body: <c>[added: str[], removed: str[]]</c>.</summary>
    KeyHold = 30,

    /// <summary>Follower → leader: this member stopped owning keys it was asked to give up. Header: <see cref="KeysHeader"/>; body: <c>[[key, keyEpoch], ...]</c>.</summary>
    KeyRelease = 31,

    /// <summary>Follower → leader: renews this member's key lease. Header: <see cref="KeysHeader"/> (sequence: the renewal's number).</summary>
    KeyRenew = 32,

    /// <summary>Leader → follower: the renewal with this sequence was granted. Header: <see cref="KeysHeader"/>.</summary>
    KeyRenewAck = 33,

    /// <summary>Leader → follower: key owners (all, or changes). Header: <see cref="KeysHeader"/> (kind 0 snapshot, 1 update; sequence: version); body: <c>[[key, owner: str|nil, keyEpoch], ...]</c>.</summary>
    KeyOwners = 34,
}

/// <summary>Per-frame flags, carried in reserved byte 1 of the frame header (protocol version 2).</summary>
[Flags]
public enum PacketFlags : byte
{
    /// <summary>No flags.</summary>
    None = 0,

    /// <summary>The call may safely be run more than once (the contract member is <c>[Idempotent]</c>).</summary>
    Idempotent = 1,

    /// <summary>The subscription's values go to every subscriber, not to one of them.</summary>
    Broadcast = 2,
}

/// <summary>Facts about packet types.</summary>
public static class PacketTypes
{
    /// <summary>The highest defined <see cref="PacketType"/> value.</summary>
    public const PacketType MaxValue = PacketType.KeyOwners;

    /// <summary>Every bit a version 2 peer may set in <see cref="PacketFlags"/>.</summary>
    public const PacketFlags KnownFlags = PacketFlags.Idempotent | PacketFlags.Broadcast;

    /// <summary>True for a value this protocol version defines.</summary>
    public static bool IsDefined(PacketType type) => type is (>= PacketType.RegisterChannel and <= PacketType.InspectResult)
        or (>= PacketType.MemberAnnounce and <= PacketType.MemberMessageAck)
        or (>= PacketType.KeyHold and <= PacketType.KeyOwners);

    /// <summary>
    /// True for types that answer a request and so carry the response flag (1) in byte 1 of the frame header:
    /// <see cref="PacketType.RegisterChannelResult"/>, <see cref="PacketType.InvokeResult"/>,
    /// <see cref="PacketType.SubscribeResultAck"/>, <see cref="PacketType.HeartbeatResponse"/>, <see cref="PacketType.AuthResponse"/>
    /// and <see cref="PacketType.InspectResult"/>.
    /// </summary>
    public static bool IsResponse(PacketType type) => type is PacketType.RegisterChannelResult or PacketType.InvokeResult
        or PacketType.SubscribeResultAck or PacketType.HeartbeatResponse or PacketType.AuthResponse or PacketType.InspectResult;
}
