using ClusterSharing.Protocol;

namespace ClusterSharing.Leader;

/// <summary>
/// The leader's member view as the leader room sees it: sessions hand it their membership frames and their close, it
/// answers through <see cref="IMemberLink"/>. The view itself lives in the node (Node/Membership), which the roles do
/// not know.
/// </summary>
internal interface IMemberHub
{
    /// <summary>A <see cref="PacketType.MemberAnnounce"/>, <see cref="PacketType.MemberChannel"/>, <see cref="PacketType.MemberMessage"/>
    /// or <see cref="PacketType.MemberMessageAck"/> frame from <paramref name="from"/>; runs on its read loop.</summary>
    /// <exception cref="ProtocolException">The frame is malformed (the session closes).</exception>
    void OnFrame(IMemberLink from, in Frame frame);

    /// <summary>The link closed: its member is gone.</summary>
    void OnLinkClosed(IMemberLink link);
}

/// <summary>One member's way to receive what the leader relays: a follower session, or the leading process itself.</summary>
internal interface IMemberLink
{
    /// <summary>For log lines.</summary>
    string Name { get; }

    /// <summary>The member's address as the leader sees it (its connection's remote endpoint), or null.</summary>
    string? RemoteAddress { get; }

    /// <summary>Sends a view change; false when the link is closed.</summary>
    bool SendView(in MemberViewHeader header, ReadOnlySpan<byte> body);

    /// <summary>Relays a message; false when the link is closed.</summary>
    bool SendMessage(in MemberMessageHeader header, ReadOnlySpan<byte> body);

    /// <summary>Relays a delivery acknowledgement; false when the link is closed.</summary>
    bool SendAck(in MemberMessageAckHeader header);

    /// <summary>Sends a leadership-per-key packet (<see cref="PacketType.KeyRenewAck"/> or <see cref="PacketType.KeyOwners"/>); false when the link is closed.</summary>
    bool SendKeys(PacketType type, in KeysHeader header, ReadOnlySpan<byte> body);
}
