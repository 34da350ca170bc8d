using System.Buffers;
using MessagePack;

namespace ClusterSharing.Protocol;

/// <summary>
/// The body of <see cref="PacketType.InspectResult"/>: a <see cref="ClusterStatus"/> as MessagePack arrays
/// (<c>[version, pid, port, epoch, leaderSinceUnixMs, address, [follower...], [channel...]]</c>, follower
/// <c>[address, pid|nil, uid|nil, [channel...], calls, inFlight, connectedMs]</c>, channel <c>[name, ready, [subscription...]]</c>,
/// subscription <c>[method, key, subscribers]</c>). Readers skip trailing fields they do not know, like the header objects.
/// </summary>
internal static class InspectReport
{
    public const int Version = 1;

    /// <summary>Longest list the reader accepts (followers, channels, subscriptions); a report past it is malformed.</summary>
    public const int MaxItems = 100_000;

    public static byte[] Write(ClusterStatus status)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(8);
        writer.Write(Version);
        writer.Write(status.LeaderProcessId);
        writer.Write(status.Port);
        writer.Write(status.Epoch);
        writer.Write(status.LeaderSince.ToUnixTimeMilliseconds());
        writer.Write(status.LeaderAddress);
        writer.WriteArrayHeader(status.Followers.Count);
        foreach (var follower in status.Followers)
        {
            writer.WriteArrayHeader(7);
            writer.Write(follower.Address);
            if (follower.ProcessId is { } pid) writer.Write(pid);
            else writer.WriteNil();
            if (follower.UserId is { } uid) writer.Write(uid);
            else writer.WriteNil();
            writer.WriteArrayHeader(follower.Channels.Count);
            foreach (var channel in follower.Channels) writer.Write(channel);
            writer.Write(follower.Calls);
            writer.Write(follower.InFlight);
            writer.Write((long)follower.Connected.TotalMilliseconds);
        }
        writer.WriteArrayHeader(status.Channels.Count);
        foreach (var channel in status.Channels)
        {
            writer.WriteArrayHeader(3);
            writer.Write(channel.Name);
            writer.Write(channel.Ready);
            writer.WriteArrayHeader(channel.Subscriptions.Count);
            foreach (var subscription in channel.Subscriptions)
            {
                writer.WriteArrayHeader(3);
                writer.Write(subscription.Method);
                writer.Write(subscription.Key);
                writer.Write(subscription.Subscribers);
            }
        }
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <exception cref="ProtocolException">The report is not one (wrong shape, version 0, lists over <see cref="MaxItems"/>).</exception>
    public static ClusterStatus Read(ReadOnlySequence<byte> body)
    {
        try
        {
            var reader = new MessagePackReader(body);
            int fields = Array(ref reader, 8, "report");
            if (reader.ReadInt32() < 1) throw Malformed("its version is below 1");
            int pid = reader.ReadInt32();
            int port = reader.ReadInt32();
            long epoch = reader.ReadInt64();
            var since = DateTimeOffset.FromUnixTimeMilliseconds(reader.ReadInt64());
            string address = reader.ReadString() ?? "";
            var followers = new FollowerStatus[Array(ref reader, 0, "followers")];
            for (int i = 0; i < followers.Length; i++)
            {
                int count = Array(ref reader, 7, "follower");
                string followerAddress = reader.ReadString() ?? "";
                int? followerPid = reader.TryReadNil() ? null : reader.ReadInt32();
                uint? uid = reader.TryReadNil() ? null : reader.ReadUInt32();
                var channels = new string[Array(ref reader, 0, "follower channels")];
                for (int c = 0; c < channels.Length; c++) channels[c] = reader.ReadString() ?? "";
                followers[i] = new FollowerStatus(followerAddress, followerPid, uid, channels, reader.ReadInt64(), reader.ReadInt32(),
                    TimeSpan.FromMilliseconds(reader.ReadInt64()));
                Skip(ref reader, count, 7);
            }
            var channelStatuses = new ChannelStatus[Array(ref reader, 0, "channels")];
            for (int i = 0; i < channelStatuses.Length; i++)
            {
                int count = Array(ref reader, 3, "channel");
                string name = reader.ReadString() ?? "";
                bool ready = reader.ReadBoolean();
                var subscriptions = new SubscriptionStatus[Array(ref reader, 0, "subscriptions")];
                for (int s = 0; s < subscriptions.Length; s++)
                {
                    int subscriptionFields = Array(ref reader, 3, "subscription");
                    subscriptions[s] = new SubscriptionStatus(reader.ReadString() ?? "", reader.ReadString() ?? "", reader.ReadInt32());
                    Skip(ref reader, subscriptionFields, 3);
                }
                channelStatuses[i] = new ChannelStatus(name, ready, subscriptions);
                Skip(ref reader, count, 3);
            }
            Skip(ref reader, fields, 8);
            return new ClusterStatus(pid, port, epoch, since, address, followers, channelStatuses);
        }
        catch (Exception ex) when (ex is MessagePackSerializationException or EndOfStreamException or OverflowException or ArgumentOutOfRangeException)
        {
            throw Malformed(ex.Message);
        }
    }

    private static int Array(ref MessagePackReader reader, int minimum, string what)
    {
        int count = reader.ReadArrayHeader();
        // Each element takes at least one byte: a count past the bytes left is a lie, refused before anything is allocated for it.
        if (count < minimum || count > MaxItems || count > reader.Sequence.Length - reader.Consumed)
            throw Malformed($"the {what} array has {count} elements");
        return count;
    }

    private static void Skip(ref MessagePackReader reader, int count, int known)
    {
        for (int i = known; i < count; i++) reader.Skip();
    }

    private static ProtocolException Malformed(string why) =>
        new(ProtocolErrorReason.UnexpectedPacket, $"The leader's inspect report is malformed: {why}.");
}
