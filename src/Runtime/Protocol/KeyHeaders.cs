using MessagePack;

namespace ClusterSharing.Protocol;

/// <summary>
/// Header object of the leadership-per-key packets (<see cref="PacketType.KeyHold"/> to <see cref="PacketType.KeyOwners"/>):
/// <c>[epoch, kind, sequence]</c>.
/// </summary>
/// <param name="Epoch">The leader epoch the sender knows (the follower's belief, or the leader's own).</param>
/// <param name="Kind">KeyHold: 0 the whole set, 1 changes; KeyOwners: 0 snapshot, 1 update; 0 otherwise.</param>
/// <param name="Sequence">KeyRenew/KeyRenewAck: the renewal's number; KeyOwners: the owners version; 0 otherwise.</param>
public readonly record struct KeysHeader(long Epoch, byte Kind, long Sequence) : IPacketHeader<KeysHeader>
{
    /// <inheritdoc/>
    public static bool IsHeaderOf(PacketType type) => type is >= PacketType.KeyHold and <= PacketType.KeyOwners;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(3);
        writer.Write(Epoch);
        writer.Write(Kind);
        writer.Write(Sequence);
    }

    /// <inheritdoc/>
    public static KeysHeader Read(ref MessagePackReader reader)
    {
        int count = HeaderFields.ReadArray(ref reader, 3, "key");
        var header = new KeysHeader(reader.ReadInt64(), reader.ReadByte(), reader.ReadInt64());
        HeaderFields.SkipExtra(ref reader, count, 3);
        return header;
    }
}
