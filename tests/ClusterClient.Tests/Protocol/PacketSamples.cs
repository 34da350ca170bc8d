using System.Buffers;
using ClusterSharing.Protocol;
using ClusterSharing.Serialization;
using MessagePack;
using ClusterSharing.Transport;

namespace ClusterSharing.Tests.Protocol;

/// <summary>One frame of every packet type, with ways to write, send and check it.</summary>
internal static class PacketSamples
{
    public sealed record Sample(PacketType Type, long RequestId, Func<IBufferWriter<byte>, int> Write,
        Func<FrameConnection, bool> Send, Action<Frame> Verify)
    {
        public byte[] Encode()
        {
            var buffer = new ArrayBufferWriter<byte>();
            int n = Write(buffer);
            Assert.Equal(n, buffer.WrittenCount);
            return buffer.WrittenSpan.ToArray();
        }

        public override string ToString() => Type.ToString();
    }

    public static byte[] Arguments(params object?[] values)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(values.Length);
        foreach (var value in values)
        {
            switch (value)
            {
                case null: writer.WriteNil(); break;
                case int i: writer.Write(i); break;
                case long l: writer.Write(l); break;
                case string s: writer.Write(s); break;
                case bool b: writer.Write(b); break;
                case double d: writer.Write(d); break;
                default: throw new ArgumentException(value.GetType().Name);
            }
        }
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    public static Sample Make<THeader>(PacketType type, long requestId, THeader header, byte[] body,
        int timeout = 0, PacketFlags flags = PacketFlags.None, Func<THeader, THeader, bool>? equal = null)
        where THeader : struct, IPacketHeader<THeader>
    {
        equal ??= (a, b) => a.Equals(b);
        return new Sample(type, requestId,
            w => FrameWriter.WriteFrame(w, type, requestId, header, body, ProtocolLimits.Default, timeout, flags),
            c => c.Send(type, requestId, header, body, timeout, flags),
            f =>
            {
                Assert.Equal(type, f.Type);
                Assert.Equal(requestId, f.RequestId);
                Assert.Equal(timeout, f.Header.TimeoutMilliseconds);
                Assert.Equal(flags, f.Flags);
                Assert.Equal(PacketTypes.IsResponse(type), f.Header.IsResponse);
                var decoded = f.ReadHeader<THeader>();
                Assert.True(equal(header, decoded), $"{type}: expected {header} but decoded {decoded}");
                Assert.Equal(header.Epoch, f.ReadEpoch());
                Assert.Equal(body, f.Body.ToArray());
            });
    }

    private static readonly ClusterMember SampleMember = new("0123456789abcdef0123456789abcdef", "host-a", 4711, "127.0.0.1:50000", 3, true, new byte[] { 0xa2, 0x68, 0x69 },
        false, DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000), DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_001_000), 2);

    public static IReadOnlyList<Sample> All(long epoch = 7)
    {
        var args = Arguments(42, "hello", true, null);
        var error = new ArrayBufferWriter<byte>();
        var w = new MessagePackWriter(error);
        RemoteError.Write(ref w, "System.InvalidOperationException", "boom", "at X.Y()", "E42");
        w.Flush();
        return
        [
            Make(PacketType.RegisterChannel, 1, new RegisterChannelHeader(epoch, "Demo.IRegistryClient", 0xdeadbeef, 4711), []),
            Make(PacketType.RegisterChannelResult, 1, new RegisterChannelResultHeader(epoch, 3, true, null), []),
            Make(PacketType.RegisterChannelResult, 2, new RegisterChannelResultHeader(epoch, 0, false, "unknown contract"), []),
            Make(PacketType.Invoke, 2, new CallHeader(epoch, 3, 0x12345678), args, timeout: 5000, flags: PacketFlags.Idempotent),
            Make(PacketType.InvokeResult, 2, new ResultHeader(epoch, ResultStatus.Ok), Arguments(1, 2, 3)),
            Make(PacketType.InvokeResult, 3, new ResultHeader(epoch, ResultStatus.Error), error.WrittenSpan.ToArray()),
            Make(PacketType.Oneway, 4, new CallHeader(epoch, 3, 0x9abcdef0), args),
            Make(PacketType.Cancel, 2, new EpochHeader(epoch), []),
            Make(PacketType.Subscribe, 5, new SubscriptionHeader(epoch, 3, 77, 1001), Arguments("service-a"), flags: PacketFlags.Broadcast),
            Make(PacketType.Unsubscribe, 6, new SubscriptionHeader(epoch, 3, 78, 1001), Arguments("service-a")),
            Make(PacketType.SubscribeResult, 7, new SubscribeResultHeader(epoch, 3, 77, 1001, SubscriptionEventKind.Value), Arguments("10.0.0.1:80")),
            Make(PacketType.SubscribeResult, 8, new SubscribeResultHeader(epoch, 3, 77, 1001, SubscriptionEventKind.Completed), [0xc0]),
            Make(PacketType.SubscribeResult, 8, new SubscribeResultHeader(epoch, 3, 77, 1001, SubscriptionEventKind.Attached), [0xc0]),
            Make(PacketType.SubscribeResultAck, 7, new EpochHeader(epoch), []),
            Make(PacketType.Publish, 9, new CallHeader(epoch, 3, 99), Arguments("10.0.0.2:80")),
            Make(PacketType.Heartbeat, 10, new HeartbeatHeader(epoch, 123_456_789_012), []),
            Make(PacketType.HeartbeatResponse, 10, new HeartbeatHeader(epoch, 123_456_789_012), []),
            Make(PacketType.Goodbye, 11, new GoodbyeHeader(epoch, "shutting down"), []),
            Make(PacketType.Goodbye, 11, new GoodbyeHeader(epoch, "leaving", LastDispatched: 41), []),
            Make(PacketType.AuthChallenge, 12, new AuthHeader(epoch, Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()), [],
                equal: (a, b) => a.Epoch == b.Epoch && a.Data.AsSpan().SequenceEqual(b.Data)),
            Make(PacketType.AuthResponse, 12, new AuthHeader(epoch, Enumerable.Range(0, 32).Select(i => (byte)(255 - i)).ToArray()), [],
                equal: (a, b) => a.Epoch == b.Epoch && a.Data.AsSpan().SequenceEqual(b.Data)),
            Make(PacketType.Inspect, 13, new EpochHeader(epoch), []),
            Make(PacketType.InspectResult, 13, new EpochHeader(epoch), InspectReport.Write(new ClusterStatus(4711, 7777, epoch,
                DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000), "127.0.0.1:7777",
                [new FollowerStatus("127.0.0.1:50000", 4712, 1000, ["Demo.IRegistryClient"], 5, 1, TimeSpan.FromSeconds(3))],
                [new ChannelStatus("Demo.IRegistryClient", true, [new SubscriptionStatus("Subscribe", "\"service-a\"", 1)])]))),
            Make(PacketType.MemberAnnounce, 0, new MemberAnnounceHeader(epoch), ClusterSharing.Node.Membership.MemberCodec.Encode(SampleMember)),
            Make(PacketType.MemberView, 0, new MemberViewHeader(epoch, MemberViewKind.Snapshot, 3), ClusterSharing.Node.Membership.MemberCodec.EncodeMany([SampleMember])),
            Make(PacketType.MemberChannel, 0, new MemberChannelHeader(epoch, "news", true), []),
            Make(PacketType.MemberMessage, 0, new MemberMessageHeader(epoch, 9, "a1", "news", null), Arguments("hello")),
            Make(PacketType.MemberMessageAck, 0, new MemberMessageAckHeader(epoch, 9, "a1", MemberDeliveryCode.NotJoined), []),
            Make(PacketType.KeyHold, 0, new KeysHeader(epoch, 0, 0), ClusterSharing.Node.Membership.Keys.KeyCodec.EncodeHold(["job-1", "job-2"], [])),
            Make(PacketType.KeyRelease, 0, new KeysHeader(epoch, 0, 0), ClusterSharing.Node.Membership.Keys.KeyCodec.EncodeReleases([("job-1", (7L << 32) | 3)])),
            Make(PacketType.KeyRenew, 0, new KeysHeader(epoch, 0, 12), []),
            Make(PacketType.KeyRenewAck, 0, new KeysHeader(epoch, 0, 12), []),
            Make(PacketType.KeyOwners, 0, new KeysHeader(epoch, 1, 5), ClusterSharing.Node.Membership.Keys.KeyCodec.EncodeOwners(
                [new("job-1", "0123456789abcdef0123456789abcdef", (7L << 32) | 4), new("job-2", null, (7L << 32) | 2)])),
        ];
    }

    /// <summary>Splits <paramref name="bytes"/> into a sequence of segments of the given sizes (cycled).</summary>
    public static ReadOnlySequence<byte> Segmented(byte[] bytes, params int[] sizes)
    {
        if (bytes.Length == 0) return ReadOnlySequence<byte>.Empty;
        Segment? first = null, last = null;
        int offset = 0, i = 0;
        while (offset < bytes.Length)
        {
            int n = Math.Min(sizes[i++ % sizes.Length], bytes.Length - offset);
            var memory = bytes.AsMemory(offset, n);
            if (first is null) first = last = new Segment(memory, 0);
            else last = last!.Append(memory);
            offset += n;
        }
        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
