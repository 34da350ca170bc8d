using MessagePack;

namespace ClusterSharing.Protocol;

/// <summary>Header object of <see cref="PacketType.MemberAnnounce"/>: <c>[epoch]</c>; the body is the member record.</summary>
/// <param name="Epoch">The leader epoch the follower believes in.</param>
public readonly record struct MemberAnnounceHeader(long Epoch) : IPacketHeader<MemberAnnounceHeader>
{
    /// <inheritdoc/>
    public static bool IsHeaderOf(PacketType type) => type == PacketType.MemberAnnounce;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(1);
        writer.Write(Epoch);
    }

    /// <inheritdoc/>
    public static MemberAnnounceHeader Read(ref MessagePackReader reader)
    {
        int count = HeaderFields.ReadArray(ref reader, 1, nameof(PacketType.MemberAnnounce));
        var header = new MemberAnnounceHeader(reader.ReadInt64());
        HeaderFields.SkipExtra(ref reader, count, 1);
        return header;
    }
}

/// <summary>What a <see cref="PacketType.MemberView"/> frame carries.</summary>
public enum MemberViewKind : byte
{
    /// <summary>The whole view (body: an array of member records); replaces what the follower had.</summary>
    Snapshot = 0,

    /// <summary>Members added or changed (body: an array of member records).</summary>
    Upsert = 1,

    /// <summary>Members gone (body: an array of member ids).</summary>
    Remove = 2,
}

/// <summary>Header object of <see cref="PacketType.MemberView"/>: <c>[epoch, kind, version]</c>.</summary>
/// <param name="Epoch">The leader's epoch.</param>
/// <param name="Kind">Snapshot, upsert or remove.</param>
/// <param name="Version">The leader's view version after this change (it grows by one per change within a term).</param>
public readonly record struct MemberViewHeader(long Epoch, MemberViewKind Kind, long Version) : IPacketHeader<MemberViewHeader>
{
    /// <inheritdoc/>
    public static bool IsHeaderOf(PacketType type) => type == PacketType.MemberView;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(3);
        writer.Write(Epoch);
        writer.Write((byte)Kind);
        writer.Write(Version);
    }

    /// <inheritdoc/>
    public static MemberViewHeader Read(ref MessagePackReader reader)
    {
        int count = HeaderFields.ReadArray(ref reader, 3, nameof(PacketType.MemberView));
        var header = new MemberViewHeader(reader.ReadInt64(),
            HeaderFields.ReadEnum<MemberViewKind>(ref reader, (byte)MemberViewKind.Remove, nameof(PacketType.MemberView), "kind"), reader.ReadInt64());
        HeaderFields.SkipExtra(ref reader, count, 3);
        return header;
    }
}

/// <summary>Header object of <see cref="PacketType.MemberChannel"/>: <c>[epoch, channel, joined]</c>.</summary>
/// <param name="Epoch">The leader epoch the follower believes in.</param>
/// <param name="Channel">The message channel's name.</param>
/// <param name="Joined">True: the member now receives the channel's messages; false: it left.</param>
public readonly record struct MemberChannelHeader(long Epoch, string Channel, bool Joined) : IPacketHeader<MemberChannelHeader>
{
    /// <inheritdoc/>
    public static bool IsHeaderOf(PacketType type) => type == PacketType.MemberChannel;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(3);
        writer.Write(Epoch);
        writer.Write(Channel);
        writer.Write(Joined);
    }

    /// <inheritdoc/>
    public static MemberChannelHeader Read(ref MessagePackReader reader)
    {
        int count = HeaderFields.ReadArray(ref reader, 3, nameof(PacketType.MemberChannel));
        var header = new MemberChannelHeader(reader.ReadInt64(),
            HeaderFields.ReadRequiredString(ref reader, nameof(PacketType.MemberChannel), "channel"), reader.ReadBoolean());
        HeaderFields.SkipExtra(ref reader, count, 3);
        return header;
    }
}

/// <summary>
/// Header object of <see cref="PacketType.MemberMessage"/>: <c>[epoch, messageId, from, channel, to]</c>; <c>to</c> is nil
/// for a channel broadcast and a member id for a direct message. The body is the message (MessagePack).
/// </summary>
/// <param name="Epoch">The sender's (or relaying leader's) epoch.</param>
/// <param name="MessageId">Numbers the sender's messages; a direct message's acknowledgement carries it back.</param>
/// <param name="From">The sending member's id.</param>
/// <param name="Channel">The channel the message is for.</param>
/// <param name="To">The target member's id for a direct message; null for a broadcast to the channel's members.</param>
public readonly record struct MemberMessageHeader(long Epoch, long MessageId, string From, string Channel, string? To) : IPacketHeader<MemberMessageHeader>
{
    /// <inheritdoc/>
    public static bool IsHeaderOf(PacketType type) => type == PacketType.MemberMessage;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(5);
        writer.Write(Epoch);
        writer.Write(MessageId);
        writer.Write(From);
        writer.Write(Channel);
        writer.Write(To);
    }

    /// <inheritdoc/>
    public static MemberMessageHeader Read(ref MessagePackReader reader)
    {
        const string name = nameof(PacketType.MemberMessage);
        int count = HeaderFields.ReadArray(ref reader, 5, name);
        var header = new MemberMessageHeader(reader.ReadInt64(), reader.ReadInt64(), HeaderFields.ReadRequiredString(ref reader, name, "from"),
            HeaderFields.ReadRequiredString(ref reader, name, "channel"), HeaderFields.ReadOptionalString(ref reader));
        HeaderFields.SkipExtra(ref reader, count, 5);
        return header;
    }
}

/// <summary>What became of a direct message (the status a <see cref="PacketType.MemberMessageAck"/> carries).</summary>
public enum MemberDeliveryCode : byte
{
    /// <summary>The target's handler ran and returned.</summary>
    Delivered = 0,

    /// <summary>The target's handler threw.</summary>
    HandlerFailed = 1,

    /// <summary>The target is alive but has no handler joined to the channel.</summary>
    NotJoined = 2,

    /// <summary>The leader knows no live member with that id.</summary>
    MemberGone = 3,
}

/// <summary>Header object of <see cref="PacketType.MemberMessageAck"/>: <c>[epoch, messageId, to, code]</c>.</summary>
/// <param name="Epoch">The sender's epoch.</param>
/// <param name="MessageId">The acknowledged message's id.</param>
/// <param name="To">The member that sent the message (the acknowledgement's destination).</param>
/// <param name="Code">What became of it.</param>
public readonly record struct MemberMessageAckHeader(long Epoch, long MessageId, string To, MemberDeliveryCode Code) : IPacketHeader<MemberMessageAckHeader>
{
    /// <inheritdoc/>
    public static bool IsHeaderOf(PacketType type) => type == PacketType.MemberMessageAck;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(4);
        writer.Write(Epoch);
        writer.Write(MessageId);
        writer.Write(To);
        writer.Write((byte)Code);
    }

    /// <inheritdoc/>
    public static MemberMessageAckHeader Read(ref MessagePackReader reader)
    {
        const string name = nameof(PacketType.MemberMessageAck);
        int count = HeaderFields.ReadArray(ref reader, 4, name);
        var header = new MemberMessageAckHeader(reader.ReadInt64(), reader.ReadInt64(), HeaderFields.ReadRequiredString(ref reader, name, "to"),
            HeaderFields.ReadEnum<MemberDeliveryCode>(ref reader, (byte)MemberDeliveryCode.MemberGone, name, "code"));
        HeaderFields.SkipExtra(ref reader, count, 4);
        return header;
    }
}
